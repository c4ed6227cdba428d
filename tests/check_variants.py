"""How the check tests judge a check: correct answers pass quietly, wrong ones teach and say why.

Shared by the tests of every assignment's checks; each test file lists its variants in
``VARIANTS = {check: (correct answers, [(wrong answer, phrase its message must contain), ...])}``
and turns them into cases with :func:`cases`. tests/test_assignments.py runs the same variants
against the graded test cells.
"""
import pytest


def run_check(check, fn, capsys):
    """Run ``check(fn)``; return (stdout, the AssertionError message or None); stderr must stay empty."""
    try:
        check(fn)
        message = None
    except AssertionError as err:
        message = str(err)
    out, err = capsys.readouterr()
    assert err == ""
    return out, message


def assert_passes(check, fn, capsys):
    out, message = run_check(check, fn, capsys)
    assert message is None, message
    assert out.count("\n") == 1 and out.startswith("PASSED "), out


def assert_teaches(check, fn, phrase, capsys):
    out, message = run_check(check, fn, capsys)
    assert message is not None, "the check passed a wrong answer"
    assert "PASSED" not in out
    assert "input used:" in message, message
    # a wrong result is shown beside the expected one; an exception is named with the input that raised it
    assert ("expected:" in message and "got:" in message) or " raised " in message, message
    assert phrase in message, f"the message should say {phrase!r}:\n{message}"


def name(fn):
    return getattr(fn, "__name__", "lambda")


def cases(variants, which):
    """Cases of ``variants``: 0 gives ``(check, fn)`` of the correct answers, 1 ``(check, fn, phrase)`` of the wrong."""
    if which == 0:
        return [pytest.param(check, fn, id=f"{check.__name__}-{name(fn)}")
                for check, (right, _) in variants.items() for fn in right]
    return [pytest.param(check, fn, phrase, id=f"{check.__name__}-{name(fn)}")
            for check, (_, wrong) in variants.items() for fn, phrase in wrong]
