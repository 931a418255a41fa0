"""The dashboard in a real browser: each page over a warehouse synced from the fake shows the
numbers SQL gives on the same file, draws its charts with the data, logs no console error and
asks nothing of any host but the dashboard's. Screenshots go to each test's tmp_path."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import duckdb
import pytest

from papra_pipeline.warehouse import SCHEMA_VERSION, Warehouse
from tests.dashboard.conftest import dashboard_server

pytestmark = pytest.mark.slow
TIMEOUT_MS = 60_000  # generous: the machine may be busy
# The organizations still in Papra, as the views keep them.
PRESENT = "organization_id IN (SELECT id FROM organizations WHERE NOT is_removed)"


class Tab:
    """A browser tab on the dashboard that records console errors and every host asked."""

    def __init__(self, browser, url: str, shots: Path) -> None:
        self.url = url
        self.shots = shots
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.page.set_default_timeout(TIMEOUT_MS)
        self.errors: list[str] = []
        self.hosts: set[str] = set()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.hosts.add(urlsplit(r.url).netloc))

    def open(self, heading: str, charts: int = 0, **params: str | list[str]) -> None:
        """Load the first page (pages are then reached through the sidebar, as people do)."""
        query = urlencode(params, doseq=True)
        self.page.goto(f"{self.url}/{'?' + query if query else ''}")
        self.ready(heading, charts)

    def go(self, link: str, heading: str, charts: int = 0) -> None:
        self.page.get_by_role("link", name=link, exact=True).click()
        self.ready(heading, charts)

    def ready(self, heading: str, charts: int = 0) -> None:
        """Wait for ``heading``, then for the run to be drawn: its last line ("Read from") is
        there, nothing of the run before is left, every element is drawn (Streamlit loads
        some elements' code on first use) and so are ``charts`` charts."""
        self.page.get_by_role("heading", name=heading, exact=True).wait_for()
        self.page.wait_for_function(
            """charts => {
                const all = [...document.querySelectorAll('[data-testid=stElementContainer]')];
                const drawn = el => el.innerText.trim() || el.querySelector('svg .role-mark');
                const plots = [...document.querySelectorAll('[data-testid=stVegaLiteChart]')];
                return all.every(el => el.dataset.stale !== 'true' && drawn(el))
                    && all.some(el => el.innerText.startsWith('Read from'))
                    && plots.filter(p => p.querySelector('svg .role-mark')).length === charts;
            }""",
            arg=charts,
        )

    def screenshot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=path, full_page=True)
        return path

    def metrics(self) -> dict[str, str]:
        return dict(
            self.page.locator("[data-testid=stMetric]").evaluate_all(
                """els => els.map(el => [
                    el.querySelector('[data-testid=stMetricLabel]').innerText.trim(),
                    el.querySelector('[data-testid=stMetricValue]').innerText.trim()])"""
            )
        )

    def tables(self) -> list[list[dict[str, str]]]:
        """Each table as rows of column name to text."""
        return self.page.locator("[data-testid=stTable] table").evaluate_all(
            """tables => tables.map(table => {
                const text = cell => cell.innerText.trim();
                const names = [...table.querySelectorAll('thead th')].map(text);
                return [...table.querySelectorAll('tbody tr')].map(row => Object.fromEntries(
                    [...row.querySelectorAll('th, td')].map((c, i) => [names[i], text(c)])));
            })"""
        )

    def marks(self) -> list[list[dict[str, str]]]:
        """Each chart's marks as drawn: Vega's SVG labels every mark with its fields (a line
        is left out: its points are the marks)."""
        charts = self.page.locator("[data-testid=stVegaLiteChart]").evaluate_all(
            """charts => charts.map(chart => [...chart.querySelectorAll(
                    'svg .role-mark:not(.mark-line) [aria-label]')]
                .map(mark => mark.getAttribute('aria-label')))"""
        )
        return [[_fields(label) for label in chart] for chart in charts]

    def text(self) -> str:
        return self.page.locator("[data-testid=stMain]").inner_text()

    def assert_clean(self) -> None:
        assert self.errors == []
        assert self.page.locator("[data-testid=stException]").count() == 0
        assert self.hosts == {urlsplit(self.url).netloc}, "fetched from outside"


def _fields(label: str) -> dict[str, str]:
    return dict(part.split(": ", 1) for part in label.split("; "))


def _day(label: str) -> date:
    return datetime.strptime(label, "%b %d, %Y").date()


def _number(text: str) -> int:
    return int(text.replace(",", ""))


@pytest.fixture
def tab(browser, dashboard_url, tmp_path) -> Iterator[Tab]:
    tab = Tab(browser, dashboard_url, tmp_path)
    yield tab
    tab.page.close()


def sql(synced, query: str, params=None) -> list[tuple]:
    """The test's own SQL, on the file the dashboard reads."""
    with synced.warehouse.read() as con:
        return con.execute(query, params or []).fetchall()


def test_now_shows_the_warehouse_as_sql_counts_it(tab, synced):
    tab.open("Now")

    live, size = sql(
        synced,
        f"""SELECT count(*), sum(original_size) FROM documents
            WHERE NOT is_deleted AND purged_at IS NULL AND {PRESENT}""",
    )[0]
    trashed = sql(
        synced,
        f"SELECT count(*) FROM documents WHERE is_deleted AND purged_at IS NULL AND {PRESENT}",
    )[0][0]
    tags = sql(synced, f"SELECT count(*) FROM tags WHERE NOT is_removed AND {PRESENT}")[0][0]
    metrics = tab.metrics()
    assert _number(metrics["Live documents"]) == live > 0
    assert _number(metrics["In the trash"]) == trashed > 0
    assert _number(metrics["Tags"]) == tags > 0
    assert metrics["Storage"] == f"{size / 1e3:,.1f} kB"
    assert (metrics["Last sync"], metrics["Freshness"]) == ("succeeded", "fresh")
    (per_organization,) = tab.tables()
    expected = sql(
        synced,
        """SELECT o.name,
                  count(d.id) FILTER (WHERE NOT d.is_deleted AND d.purged_at IS NULL),
                  coalesce(sum(d.original_size)
                           FILTER (WHERE NOT d.is_deleted AND d.purged_at IS NULL), 0),
                  count(d.id) FILTER (WHERE d.is_deleted AND d.purged_at IS NULL),
                  (SELECT count(*) FROM tags t WHERE t.organization_id = o.id
                   AND NOT t.is_removed)
           FROM organizations o LEFT JOIN documents d ON d.organization_id = o.id
           WHERE NOT o.is_removed GROUP BY o.id, o.name ORDER BY o.name""",
    )
    shown = [
        (
            row["Organization"],
            _number(row["Live documents"]),
            _number(row["Bytes"]),
            _number(row["In the trash"]),
            _number(row["Tags"]),
        )
        for row in per_organization
    ]
    assert shown == expected
    assert {(row["Status"], row["Freshness"]) for row in per_organization} == {
        ("succeeded", "fresh")
    }
    tab.screenshot("now")
    tab.assert_clean()


def test_storage_charts_the_reported_days_exactly(tab, synced):
    tab.open("Now")
    tab.go("Storage and uploads", "Storage and uploads", charts=2)

    per_day = sql(
        synced,
        """SELECT day, sum(documents_uploaded), sum(live_bytes), sum(documents_trashed)
           FROM report_daily_documents GROUP BY day ORDER BY day""",
    )
    assert [day for day, *_ in per_day] == synced.reported
    metrics = tab.metrics()
    assert _number(metrics["Uploads"]) == sum(row[1] for row in per_day) > 0
    assert _number(metrics["Trashed"]) == sum(row[3] for row in per_day)
    storage, uploads = tab.marks()
    # A line's points and a bar per reported day: the day the backfills skipped has none.
    assert [_day(m["day (UTC)"]) for m in storage] == synced.reported
    assert [float(m["live storage (MB)"]) for m in storage] == pytest.approx(
        [row[2] / 1e6 for row in per_day], rel=1e-4
    )
    assert [(_day(m["day (UTC)"]), int(m["documents"])) for m in uploads] == [
        (day, uploaded) for day, uploaded, *_ in per_day
    ]
    gap = synced.gap.isoformat()
    assert "3 of 4 days of the range have a report" in tab.text()
    assert f"--partition-range {gap}...{gap}" in tab.text()
    tab.screenshot("storage")
    tab.assert_clean()


def test_activity_by_event_per_day(tab, synced):
    tab.open("Now")
    tab.go("Activity", "Activity", charts=1)

    expected = sql(
        synced,
        "SELECT day, event, sum(events) FROM report_daily_activity GROUP BY ALL ORDER BY ALL",
    )
    (bars,) = tab.marks()
    drawn = sorted((_day(m["day (UTC)"]), m["event"], int(m["entries"])) for m in bars)
    assert drawn == expected
    assert len({event for _, event, _ in expected}) > 1
    (totals,) = tab.tables()
    per_event: dict[str, int] = {}
    for _, event, events in expected:
        per_event[event] = per_event.get(event, 0) + events
    assert {row["Event"]: _number(row["Entries"]) for row in totals} == per_event
    tab.screenshot("activity")
    tab.assert_clean()


def test_top_tags_and_custom_property_totals(tab, synced):
    tab.open("Now")
    tab.go("Tags and properties", "Tags and custom properties", charts=1)

    live = f"NOT d.is_deleted AND d.purged_at IS NULL AND d.{PRESENT}"
    top = sql(
        synced,
        """SELECT t.name || ' (' || o.name || ')', count(d.id) AS n
            FROM tags t JOIN organizations o ON o.id = t.organization_id
            LEFT JOIN document_tags dt ON dt.tag_id = t.id
            LEFT JOIN documents d ON d.id = dt.document_id AND NOT d.is_deleted
                 AND d.purged_at IS NULL
            WHERE NOT t.is_removed AND NOT o.is_removed
            GROUP BY t.id, t.name, o.name ORDER BY n DESC, t.name, o.name LIMIT 15""",
    )
    (bars,) = tab.marks()
    assert [(m["label"], int(m["live documents"])) for m in bars] == top
    numbers, selects = tab.tables()
    number_totals = sql(
        synced,
        f"""SELECT v.property_name, count(*), sum(v.number_value)
            FROM document_custom_property_values v JOIN documents d ON d.id = v.document_id
            WHERE v.property_type = 'number' AND {live}
            GROUP BY ALL ORDER BY 1""",
    )
    assert [(row["Property"], _number(row["Documents"]), row["Total"]) for row in numbers] == [
        (name, count, f"{total:,.2f}") for name, count, total in number_totals
    ]
    option_counts = sql(
        synced,
        f"""SELECT property_name, option, count(*) FROM (
                SELECT v.property_name, unnest(v.option_names) AS option
                FROM document_custom_property_values v JOIN documents d ON d.id = v.document_id
                WHERE v.property_type IN ('select', 'multi_select') AND {live}
            ) GROUP BY ALL ORDER BY 1, 3 DESC, 2""",
    )
    assert [(r["Property"], r["Option"], _number(r["Documents"])) for r in selects] == [
        (name, option, count) for name, option, count in option_counts
    ]
    assert len(option_counts) > 2
    tab.screenshot("tags")
    tab.assert_clean()


def test_filters_by_organization_and_days(tab, synced):
    tab.open("Now")
    org_id, name = sql(synced, "SELECT id, name FROM organizations ORDER BY name DESC LIMIT 1")[0]
    tab.page.locator("[data-testid=stSidebar] [data-testid=stSelectbox]").click()
    tab.page.get_by_role("option", name=name).click()
    tab.page.wait_for_function(
        "document.querySelectorAll('[data-testid=stTable] tbody tr').length === 1"
    )
    tab.ready("Now")

    live = sql(
        synced,
        """SELECT count(*) FROM documents
           WHERE organization_id = ? AND NOT is_deleted AND purged_at IS NULL""",
        [org_id],
    )[0][0]
    assert _number(tab.metrics()["Live documents"]) == live
    assert [row["Organization"] for row in tab.tables()[0]] == [name]
    tab.go("Storage and uploads", "Storage and uploads", charts=2)
    assert f"organization={name}".replace(" ", "+") in tab.page.url
    first, last = synced.reported[1], synced.reported[2]
    uploaded = sql(
        synced,
        """SELECT sum(documents_uploaded) FROM report_daily_documents
           WHERE organization_id = ? AND day BETWEEN ? AND ?""",
        [org_id, first, last],
    )[0][0]
    tab.open("Now", organization=name, days=[first.isoformat(), last.isoformat()])
    tab.go("Storage and uploads", "Storage and uploads", charts=2)
    assert _number(tab.metrics()["Uploads"]) == uploaded
    (storage, _) = tab.marks()
    assert [_day(m["day (UTC)"]) for m in storage] == [first, last]
    tab.screenshot("filtered")
    tab.assert_clean()


def test_a_sync_while_the_dashboard_is_open_shows_on_the_next_load(tab, synced):
    tab.open("Now")
    before = _number(tab.metrics()["Live documents"])
    org_id = sql(synced, "SELECT min(id) FROM organizations")[0][0]
    synced.fake.upload_document(org_id, "new while open.txt", "a new text", extract=True)

    synced.sync()  # a lock timeout of 5 s: it would fail if the dashboard held the file

    tab.page.reload()
    tab.ready("Now")
    assert _number(tab.metrics()["Live documents"]) == before + 1
    tab.assert_clean()


@pytest.fixture
def states(synced, tmp_path) -> Iterator[tuple[Path, str]]:
    """A dashboard over a path that holds nothing yet."""
    path = tmp_path / "states" / "papra.duckdb"
    path.parent.mkdir()
    with dashboard_server(path, tmp_path / "streamlit.log") as url:
        yield path, url


def install(source: Path, target: Path) -> None:
    """Put ``source`` in place as a publish does: a copy renamed over the target."""
    copy = target.with_name(".installing")
    shutil.copy(source, copy)
    copy.replace(target)


def test_missing_empty_and_newer_files_say_what_to_do(browser, states, synced, tmp_path):
    path, url = states
    tab = Tab(browser, url, tmp_path)

    tab.open("No warehouse yet")
    assert "papra-pipeline sync" in tab.text()
    tab.screenshot("missing")

    Warehouse(tmp_path / "empty" / "papra.duckdb").ensure_schema()
    install(tmp_path / "empty" / "papra.duckdb", path)
    tab.page.reload()
    tab.ready("The warehouse is empty")
    assert "papra-pipeline sync" in tab.text()
    tab.screenshot("empty")

    newer = tmp_path / "newer.duckdb"
    shutil.copy(synced.warehouse.path, newer)
    with duckdb.connect(str(newer)) as con:
        con.execute(
            "INSERT INTO _papra_schema_version VALUES (?, now(), '99.0')", [SCHEMA_VERSION + 1]
        )
    install(newer, path)
    tab.page.reload()
    tab.ready("The warehouse is from a newer papra-pipeline")
    assert re.search(rf"schema version {SCHEMA_VERSION + 1}.*Upgrade papra-pipeline", tab.text())
    tab.screenshot("newer")
    tab.assert_clean()
    tab.page.close()
