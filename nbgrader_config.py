"""nbgrader configuration of the course: sources in solutions/, student release in notebooks/."""
c = get_config()  # noqa: F821  (provided by nbgrader)

c.CourseDirectory.course_id = "fedlab"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
c.CourseDirectory.db_url = "sqlite:///build/gradebook.db"
