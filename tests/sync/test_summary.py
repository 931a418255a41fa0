"""The progress lines people read while a sync runs."""

import pytest

from papra_pipeline.sync.summary import describe_progress


@pytest.mark.parametrize(
    ("stream", "done", "total", "expected"),
    [
        ("documents", 1, None, "documents    org_1: 1 page"),
        ("documents", 3, None, "documents    org_1: 3 pages"),
        ("documents", 1, 1, "documents    org_1: 1/1 page"),
        ("documents", 20, 40, "documents    org_1: 20/40 pages"),
        ("organizations", 1, 1, "organizations org_1: 1/1 organization"),
        ("content", 2, 5, "content      org_1: 2/5 documents"),
        ("content", 1, None, "content      org_1: 1 document"),
    ],
)
def test_a_progress_line_counts_in_the_right_number(stream, done, total, expected):
    assert describe_progress(stream, "org_1", done, total) == expected
