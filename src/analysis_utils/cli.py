"""The command line: turns flags into calls, prints results, maps expected errors to exit codes.

``crm-workbook run``, ``validate``, ``sample``, ``lookup`` and ``pdf``; ``--help`` on each. Expected
problems print one line (``error: ...``) and exit 2 (parameters) or 1 (data, failed run), without a
traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from analysis_utils import paths
from analysis_utils.errors import CrmError

EPILOG = "Parameters: params/defaults.yaml lists every key with its meaning; see README.md."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crm-workbook",
        description="Reproducible analytical-CRM workbook: client export in, segmentation report out.",
        epilog=EPILOG,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run every stage notebook for a client's periods", epilog=EPILOG)
    _client_arguments(run)
    run.add_argument("--jobs", type=int, default=1, metavar="N", help="client x period runs in parallel")
    run.add_argument(
        "--out",
        type=Path,
        default=paths.REPORTS_DIR,
        metavar="DIR",
        help="reports folder (default: reports/)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress lines, only the summary")
    run.add_argument(
        "--force",
        action="store_true",
        help="execute every stage, even those the published run computed with the same inputs and parameters",
    )

    validate = commands.add_parser(
        "validate", help="check parameters and data, print the data-quality table", epilog=EPILOG
    )
    _client_arguments(validate)

    lookup = commands.add_parser(
        "lookup",
        help="print the customer ids of pseudonyms shown in client reports (from the runs' exports)",
        epilog=EPILOG,
    )
    lookup.add_argument("client", help="client parameter file, e.g. params/clients/sample.yaml")
    lookup.add_argument(
        "pseudonyms", nargs="+", metavar="PSEUDONYM", help="pseudonym, e.g. C0123456789abcdef"
    )
    lookup.add_argument(
        "--out",
        type=Path,
        default=paths.REPORTS_DIR,
        metavar="DIR",
        help="reports folder (default: reports/)",
    )
    lookup.add_argument(
        "--period",
        action="append",
        default=[],
        metavar="NAME",
        help="period to look in (repeatable; default all)",
    )

    pdf = commands.add_parser(
        "pdf",
        help="print each published period's client report to 09_client_report.pdf (headless Chromium, A4)",
        epilog=EPILOG,
    )
    pdf.add_argument("client", help="client parameter file, e.g. params/clients/sample.yaml")
    pdf.add_argument(
        "--period",
        action="append",
        default=[],
        metavar="NAME",
        help="period to print (repeatable; default every published period)",
    )
    pdf.add_argument(
        "--out",
        type=Path,
        default=paths.REPORTS_DIR,
        metavar="DIR",
        help="reports folder (default: reports/)",
    )

    sample = commands.add_parser("sample", help="write the synthetic sample client's data", epilog=EPILOG)
    sample.add_argument("--out", type=Path, default=paths.SAMPLE_DIR, metavar="DIR", help="output folder")
    sample.add_argument("--seed", type=int, default=42, help="random seed (same seed, same bytes)")
    sample.add_argument("--customers", type=int, default=3000, help="number of customers")
    return parser


def _client_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("client", help="client parameter file, e.g. params/clients/sample.yaml")
    parser.add_argument(
        "--period",
        action="append",
        default=[],
        metavar="NAME",
        help="period to run (repeatable; default all)",
    )
    parser.add_argument(
        "-p",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a parameter, e.g. -p prep.returns.policy=drop (value typed as YAML)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``crm-workbook`` and ``python -m analysis_utils``; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except CrmError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    from analysis_utils import privacy, runner
    from analysis_utils.loader import load_params

    params = load_params(args.client, args.overrides)
    jobs = runner.preflight(params, args.period, args.out.resolve(), args.overrides, args.force)
    _warn_weak_salt(privacy.salt_from(params.values))
    if args.quiet:
        jobs = [runner.Job(**{**job.__dict__, "show_progress": False}) for job in jobs]
    outcomes = runner.run_jobs(jobs, max(1, args.jobs))
    print(_summary_table(outcomes))
    for outcome in outcomes:
        if outcome.error:
            print(f"error: {outcome.error}", file=sys.stderr)
    index = args.out.resolve() / params.client / "index.html"
    if index.is_file():
        print(f"Report: {index}")
    return 0 if all(o.status == "ok" for o in outcomes) else 1


def _summary_table(outcomes: Sequence) -> str:
    header = f"{'run':<28} {'status':<7} {'seconds':>8}  path"
    lines = [header, "-" * len(header)]
    lines += [f"{o.label:<28} {o.status:<7} {o.seconds:>8.1f}  {o.path}" for o in outcomes]
    return "\n".join(lines)


def _validate(args: argparse.Namespace) -> int:
    from analysis_utils import engine, overview, prep, privacy, sources
    from analysis_utils.config import period_warnings
    from analysis_utils.loader import load_params

    params = load_params(args.client, args.overrides)
    _warn_weak_salt(privacy.salt_from(params.values))  # as run does: the client report needs it
    names = args.period or [p.name for p in params.periods]
    print(f"{params.source}: parameters valid; data file {params.data_path}")
    for warning in period_warnings(params.periods):  # legitimate, but never compared
        print(f"warning: {warning}")
    con = engine.connect(params.get("engine"))  # one connection for every period's sources
    money = {"amount": lambda amount: "" if amount != amount else f"{amount:,.2f}"}  # NaN: no amount
    for name in names:
        period = params.period(name)
        result = prep.prepare(params, period)
        print(f"\nperiod {name}: data quality")
        print(result.quality.to_string(index=False, formatters=money))
        headline = overview.headline(result.orders, result.quality)
        print("  ".join(f"{key}={value}" for key, value in headline.items()))
        period_customers = result.orders.column("customer_id").unique().to_pylist()
        extra = sources.load_sources(params, period, con, period_customers)
        if not extra.quality.empty:
            print(f"\nperiod {name}: optional sources")
            print(extra.quality.drop(columns="description").to_string(index=False))
    return 0


def _warn_weak_salt(salt: str) -> None:
    from analysis_utils import privacy

    warning = privacy.salt_warning(salt)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)


def _lookup(args: argparse.Namespace) -> int:
    """One line per pseudonym: pseudonym, customer id (and the periods, when they disagree)."""
    from analysis_utils import exports, report
    from analysis_utils.errors import DataError
    from analysis_utils.loader import load_params

    params = load_params(args.client)
    client_dir = args.out.resolve() / params.client
    runs = [
        run
        for run in report.published_runs(client_dir)
        if (not args.period or run.name in args.period) and (run / exports.FOLDER / exports.KEY_CSV).is_file()
    ]
    if not runs:
        wanted = f" for period {', '.join(args.period)}" if args.period else ""
        raise DataError(
            f"no published run of {params.client} in {client_dir.parent} has a pseudonym key{wanted}"
        )
    found: dict[str, dict[str, list[str]]] = {}
    for run in runs:
        key = exports.read_key(run)
        for pseudonym, customer_id in zip(key["pseudonym"], key["customer id"], strict=True):
            found.setdefault(pseudonym, {}).setdefault(customer_id, []).append(run.name)
    unknown = []
    for pseudonym in args.pseudonyms:
        ids = found.get(pseudonym.strip())
        if not ids:
            unknown.append(pseudonym)
        elif len(ids) == 1:
            print(f"{pseudonym}\t{next(iter(ids))}")
        else:  # another salt in some period
            for customer_id, periods in ids.items():
                print(f"{pseudonym}\t{customer_id}\t(period {', '.join(periods)})")
    if unknown:
        periods = ", ".join(run.name for run in runs)
        raise DataError(
            f"unknown pseudonym {', '.join(unknown)}: not in the keys of {params.client} periods {periods}"
        )
    return 0


def _pdf(args: argparse.Namespace) -> int:
    """Print ``09_client_report.client.html`` of each chosen published period beside it as a PDF."""
    from analysis_utils import pdf, report
    from analysis_utils.errors import DataError
    from analysis_utils.loader import load_params

    params = load_params(args.client)
    client_dir = args.out.resolve() / params.client
    runs = [run for run in report.published_runs(client_dir) if (run / pdf.CLIENT_REPORT).is_file()]
    missing = [name for name in args.period if name not in {run.name for run in runs}]
    if missing:
        raise DataError(
            f"no published client report of {params.client} for period {', '.join(missing)} in {client_dir}"
        )
    runs = [run for run in runs if not args.period or run.name in args.period]
    if not runs:
        raise DataError(f"no published client report of {params.client} in {client_dir}")
    browser = pdf.find_browser()  # before the first page: one line when there is none
    for run in runs:
        print(pdf.print_pdf(run / pdf.CLIENT_REPORT, browser=browser))
    return 0


def _sample(args: argparse.Namespace) -> int:
    from analysis_utils import sample

    written = sample.write_sample(args.out, sample.SampleSpec(seed=args.seed, n_customers=args.customers))
    for name, path in written.items():
        print(f"{name}: {path}")
    return 0


COMMANDS = {"run": _run, "validate": _validate, "sample": _sample, "lookup": _lookup, "pdf": _pdf}
