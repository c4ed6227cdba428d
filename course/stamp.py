"""Stamp each released notebook with where students install fedlab from and the version it was released with.

Run by ``nbgrader generate_assignment`` (see nbgrader_config.py), before nbgrader computes the
checksums of the locked cells, so the stamped setup cell is what nbgrader records and validates.
The instructor sets the install source once (``c.StampRelease.install_from`` in nbgrader_config.py)
or per release (``python -m course release --install-from SPEC``). The setup cell installs it on a
machine without fedlab (Colab), or says that no source was set; it warns when the installed fedlab is
not the released version. The notebook's metadata gets what ``python -m fedlab pack`` needs.
"""
import re

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

import fedlab

INSTALL_LINE = re.compile(r"^FEDLAB_INSTALL = [^#\n]*?(?=\s*(#.*)?$)", re.M)  # the value; its comment stays
RELEASE_LINE = re.compile(r"^FEDLAB_RELEASE = [^#\n]*?(?=\s*(#.*)?$)", re.M)
EXPERIMENT = re.compile(r"fedlab\.experiment\(\s*['\"]([\w-]+)['\"]")


class StampRelease(NbGraderPreprocessor):
    """Write the install source and fedlab's version into the setup cell; name the notebook's experiments."""

    install_from = Unicode(
        "",
        help="The pip requirement students install fedlab from: a git URL of the course's repository at a tag "
             "(git+https://.../fedlab.git@v0.1.0), a wheel URL, or fedlab-course if you publish it. Empty: the "
             "setup cell says that no install source was set.").tag(config=True)

    def preprocess(self, nb, resources):
        setup = [c for c in nb.cells if c.cell_type == "code" and INSTALL_LINE.search(c.source)]
        if len(setup) != 1 or not RELEASE_LINE.search(setup[0].source):
            raise ValueError(f"{resources['nbgrader']['notebook']}: expected one setup cell with the lines "
                             f"'FEDLAB_INSTALL = ...' and 'FEDLAB_RELEASE = ...'; found {len(setup)}")
        cell = setup[0]
        cell.source = INSTALL_LINE.sub(f"FEDLAB_INSTALL = {self.install_from.strip() or None!r}", cell.source)
        cell.source = RELEASE_LINE.sub(f"FEDLAB_RELEASE = {fedlab.__version__!r}", cell.source)
        nb.metadata["fedlab"] = {
            "assignment": resources["nbgrader"]["assignment"],
            "notebook": resources["nbgrader"]["notebook"],
            "release": fedlab.__version__,
            "experiments": sorted({name for c in nb.cells if c.cell_type == "code"
                                   for name in EXPERIMENT.findall(c.source)}),
        }
        return nb, resources
