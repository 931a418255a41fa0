"""The dashboard's pages, run by Streamlit (``papra-pipeline dashboard`` starts it).

Every page load and every filter change runs this script again: it opens the readers' file
read-only, runs the queries of :mod:`papra_pipeline.warehouse.dashboard` and closes it, so
the page shows the last published sync and never keeps a sync from replacing the file.
Charts are drawn as SVG, from Vega-Lite bundled with Streamlit: nothing is fetched from
outside.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from papra_pipeline.warehouse import (
    SCHEMA_VERSION,
    Connection,
    Warehouse,
    WarehouseError,
    WarehouseMissingError,
    WarehouseVersionError,
)
from papra_pipeline.warehouse import dashboard as queries
from papra_pipeline.warehouse.reports import REPORT_TABLES
from papra_pipeline.warehouse.store import check_schema_version

ALL = ""  # the organization filter's value for every organization
# Each report table is filled by the Dagster asset named after it.
REPORT_ASSETS = ",".join(f"papra_{table}" for table in REPORT_TABLES)
# Vega-Embed draws on a canvas by default; SVG marks can be read (and tested) like any page.
SVG = {"embedOptions": {"renderer": "svg", "actions": False}}


@dataclass(frozen=True)
class View:
    """What every page needs: the open connection and the filters."""

    con: Connection
    organization_id: str | None
    days: queries.DayRange
    freshness_hours: float


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--freshness-hours", type=float, default=2.0)
    return parser.parse_args(sys.argv[1:])


def _count(value: object) -> str:
    return f"{int(value):,}"


def _size(value: object) -> str:
    """Bytes in decimal units, as file managers show them."""
    size = float(value)
    if size < 1000:
        return f"{size:,.0f} B"
    for unit in ("kB", "MB"):
        size /= 1000
        if size < 1000:
            return f"{size:,.1f} {unit}"
    return f"{size / 1000:,.1f} GB"


def _never(then: datetime | None) -> bool:
    """No time: ``None``, or pandas' NaT for an organization no sync has recorded."""
    return then is None or bool(pd.isna(then))


def _age(then: datetime | None) -> str:
    if _never(then):
        return "never"
    seconds = max((datetime.now(UTC) - then).total_seconds(), 0)
    for unit, length in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= length:
            return f"{seconds / length:.0f} {unit} ago"
    return "just now"


def _stale(succeeded_at: datetime | None, freshness_hours: float) -> bool:
    """Whether no sync succeeded within ``PAPRA_FRESHNESS_HOURS``, as Dagster's policy says."""
    if _never(succeeded_at):
        return True
    return datetime.now(UTC) - succeeded_at > timedelta(hours=freshness_hours)


def _when(then: datetime | None) -> str:
    return "never" if _never(then) else then.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _backfill(first: date, last: date) -> str:
    return (
        f"dg launch --assets {REPORT_ASSETS} "
        f"--partition-range {first.isoformat()}...{last.isoformat()}"
    )


def _chart(chart: alt.Chart) -> None:
    st.altair_chart(chart.properties(usermeta=SVG, height=260), width="stretch")


def _day_axis() -> alt.X:
    return alt.X("utcyearmonthdate(day):T", title="day (UTC)")


def _reported(view: View, frame: pd.DataFrame) -> bool:
    """Say which days of the range have no report and how to fill them; ``False`` when none
    has."""
    days = view.days
    wanted = (days.last - days.first).days + 1
    have = {day.date() if hasattr(day, "date") else day for day in frame["day"]}
    if not have:
        st.info(
            f"No daily report for {days.first} to {days.last}. The reports are computed by "
            "Dagster's daily partitions: backfill these days from the Dagster UI or with\n\n"
            f"`{_backfill(days.first, days.last)}`"
        )
        return False
    missing = sorted(
        day for day in (days.first + timedelta(days=i) for i in range(wanted)) if day not in have
    )
    st.caption(
        f"{len(have)} of {wanted} days of the range have a report"
        + (
            f"; to fill the other {len(missing)}: `{_backfill(missing[0], missing[-1])}`"
            if missing
            else "."
        )
    )
    return True


def page_now(view: View) -> None:
    st.header("Now")
    frame = queries.now_per_organization(view.con, view.organization_id)
    last = queries.last_sync(view.con)
    figures = st.columns(4)
    figures[0].metric("Live documents", _count(frame["live_documents"].sum()))
    figures[1].metric("Storage", _size(frame["live_bytes"].sum()))
    figures[2].metric("In the trash", _count(frame["trashed_documents"].sum()))
    figures[3].metric("Tags", _count(frame["tags"].sum()))
    stale = _stale(last.succeeded_at, view.freshness_hours)
    syncs = st.columns(4)
    syncs[0].metric("Last sync", last.status or "none")
    syncs[1].metric("Finished", _age(last.finished_at))
    syncs[2].metric("Freshness", "stale" if stale else "fresh")
    syncs[3].metric("Data from", _age(last.succeeded_at))
    st.caption(
        f"Last published sync: {last.mode or '-'}, finished {_when(last.finished_at)}, "
        f"{last.status or 'none'}; newest successful one {_when(last.succeeded_at)}. Syncs "
        "that change nothing are not published to readers, so they do not show here."
    )
    if last.status == "failed" and last.error:
        st.error(f"The last sync failed: {last.error}")
    if stale:
        st.warning(
            f"No sync has published changes for more than {view.freshness_hours:g} h. A sync "
            "that finds nothing new publishes nothing, so this is expected while Papra is "
            "quiet; otherwise check that the syncs run (Dagster's freshness policy on the "
            "synced tables, or `papra-pipeline sync`)."
        )
    st.subheader("Per organization")
    table = pd.DataFrame(
        {
            "Organization": frame["organization"],
            "Live documents": frame["live_documents"].map(_count),
            "Bytes": frame["live_bytes"].map(_count),
            "Storage": frame["live_bytes"].map(_size),
            "In the trash": frame["trashed_documents"].map(_count),
            "Tags": frame["tags"].map(_count),
            "Last sync": frame["last_sync_at"].map(_when),
            "Status": frame["last_sync_status"].fillna("none"),
            "Freshness": frame["last_success_at"].map(
                lambda then: "stale" if _stale(then, view.freshness_hours) else "fresh"
            ),
            "Data from": frame["last_success_at"].map(_age),
        }
    )
    st.table(table, hide_index=True)


def page_storage(view: View) -> None:
    st.header("Storage and uploads")
    frame = queries.daily_documents(view.con, view.organization_id, view.days)
    if not _reported(view, frame):
        return
    last = frame.iloc[-1]
    columns = st.columns(4)
    columns[0].metric("Uploads", _count(frame["documents_uploaded"].sum()))
    columns[1].metric("Bytes added", _size(frame["bytes_added"].sum()))
    columns[2].metric("Trashed", _count(frame["documents_trashed"].sum()))
    columns[3].metric(f"Live documents on {last['day']:%Y-%m-%d}", _count(last["live_documents"]))
    chart = alt.Chart(frame.assign(live_megabytes=frame["live_bytes"] / 1e6))
    st.subheader("Storage at the end of each day")
    _chart(
        chart.mark_line(point=True).encode(
            _day_axis(), alt.Y("live_megabytes:Q", title="live storage (MB)")
        )
    )
    st.subheader("Uploads per day")
    _chart(chart.mark_bar().encode(_day_axis(), alt.Y("documents_uploaded:Q", title="documents")))


def page_activity(view: View) -> None:
    st.header("Activity")
    frame = queries.daily_activity(view.con, view.organization_id, view.days)
    if not _reported(view, frame):
        return
    totals = frame.groupby("event", as_index=False)["events"].sum()
    st.table(
        pd.DataFrame({"Event": totals["event"], "Entries": totals["events"].map(_count)}),
        hide_index=True,
    )
    st.subheader("Activity per day, by event")
    _chart(
        alt.Chart(frame)
        .mark_bar()
        .encode(_day_axis(), alt.Y("events:Q", title="entries"), alt.Color("event:N"))
    )


def page_tags_and_properties(view: View) -> None:
    st.header("Tags and custom properties")
    st.caption("Live documents now; the date range does not apply here.")
    tags = queries.top_tags(view.con, view.organization_id)
    st.subheader("Top tags")
    if tags.empty:
        st.info("No tag is on a live document.")
    else:
        labelled = tags.assign(label=tags["tag"] + " (" + tags["organization"] + ")")
        _chart(
            alt.Chart(labelled)
            .mark_bar()
            .encode(
                alt.X("live_documents:Q", title="live documents"),
                alt.Y("label:N", sort="-x", title=None),
            )
        )
    numbers = queries.number_property_totals(view.con, view.organization_id)
    st.subheader("Number properties: totals")
    if numbers.empty:
        st.info("No number property has a value on a live document.")
    else:
        st.table(
            pd.DataFrame(
                {
                    "Property": numbers["property"],
                    "Documents": numbers["documents"].map(_count),
                    "Total": numbers["total"].map(lambda total: f"{total:,.2f}"),
                }
            ),
            hide_index=True,
        )
    selects = queries.select_property_counts(view.con, view.organization_id)
    st.subheader("Select properties: documents per option")
    if selects.empty:
        st.info("No select property has a value on a live document.")
    else:
        st.table(
            pd.DataFrame(
                {
                    "Property": selects["property"],
                    "Option": selects["option"],
                    "Documents": selects["documents"].map(_count),
                }
            ),
            hide_index=True,
        )


def _problem(title: str, what_to_do: str) -> None:
    st.header(title)
    st.info(what_to_do)


def _filters(con: Connection) -> tuple[str | None, queries.DayRange]:
    """The sidebar's organization and date range (kept in the URL, so a view can be shared).
    The range defaults to the reported days, else the days holding documents."""
    names = queries.organizations(con)
    chosen = st.sidebar.selectbox(
        "Organization",
        [ALL, *names],
        format_func=lambda org: names.get(org, "All organizations"),
        key="organization",
        bind="query-params",
    )
    reported = queries.reported_days(con)
    known = queries.data_days(con)
    today = datetime.now(UTC).date()
    if reported:
        default = (reported[0], reported[-1])
    elif known is not None:
        default = (known.first, known.last)
    else:
        default = (today - timedelta(days=30), today)
    picked = st.sidebar.date_input(
        "Days (UTC)", value=default, key="days", bind="query-params", format="YYYY-MM-DD"
    )
    picked = tuple(picked) if isinstance(picked, list | tuple) else (picked,)
    first, last = (picked[0], picked[-1]) if picked else default
    return chosen or None, queries.DayRange(first, last)


PAGES: list[tuple[Callable[[View], None], str, str]] = [
    (page_now, "Now", "now"),
    (page_storage, "Storage and uploads", "storage"),
    (page_activity, "Activity", "activity"),
    (page_tags_and_properties, "Tags and properties", "tags"),
]


def _render(path: Path, pages: list[Callable[[View], None]], freshness_hours: float) -> None:
    """The chosen page, or what to do when the file cannot be shown."""
    try:
        with Warehouse(path, lock_timeout=5).read() as con:
            if check_schema_version(con, path) < SCHEMA_VERSION:
                _problem(
                    "The warehouse is from an older papra-pipeline",
                    f"{path} has an older schema than this version reads. Run "
                    "`papra-pipeline sync` (or a Dagster sync job): it upgrades the file "
                    "in place, then reload this page.",
                )
                return
            if not queries.has_synced(con):
                _problem(
                    "The warehouse is empty",
                    f"{path} holds no sync yet. Run `papra-pipeline sync` (or a Dagster "
                    "sync job), then reload this page.",
                )
                return
            organization_id, days = _filters(con)
            for render in pages:
                render(View(con, organization_id, days, freshness_hours))
    except WarehouseMissingError:
        _problem(
            "No warehouse yet",
            f"There is no file at {path}. Run `papra-pipeline sync` to create it (or "
            "`make demo` for demo data), or start the dashboard with `--db` (or "
            "PAPRA_DUCKDB_PATH) naming your warehouse, then reload this page.",
        )
    except WarehouseVersionError as exc:
        _problem(
            "The warehouse is from a newer papra-pipeline",
            f"{exc} Then restart the dashboard.",
        )
    except WarehouseError as exc:
        _problem("The warehouse cannot be read", f"{exc}")


def main() -> None:
    arguments = _arguments()
    st.set_page_config(page_title="Papra dashboard", layout="wide")
    # Streamlit picks the page from the URL; running it only notes which, so that the page
    # is drawn below, inside the one connection of this run (or replaced by what to do).
    chosen: list[Callable[[View], None]] = []
    pages = [
        st.Page(
            lambda render=render: chosen.append(render),
            title=title,
            url_path=path,
            default=index == 0,
        )
        for index, (render, title, path) in enumerate(PAGES)
    ]
    st.navigation(pages).run()
    path = Path(arguments.db)
    _render(path, chosen, arguments.freshness_hours)
    # Last on every page: when a page shows this, everything above it is drawn.
    st.caption(f"Read from {path} at {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC.")


# Streamlit runs this file as the main script; importing it draws nothing.
if __name__ == "__main__":
    main()
