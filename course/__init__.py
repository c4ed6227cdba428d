"""Instructor-side tooling (release, grading, demo). Not shipped to students."""
