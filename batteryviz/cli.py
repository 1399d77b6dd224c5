"""The ``batteryviz`` command line.

    batteryviz info FILE
    batteryviz summary FILE [--active-mass-mg M] [--nominal-capacity-mah C] [--cycle-mode MODE] [-o
    out.csv|out.xlsx|out.nc]
    batteryviz summary --example
    batteryviz convert FILE -o out.bdf.csv|out.bdf.parquet|out.nc|out.zarr

Errors about the input (wrong format, missing column, bad value...) are printed as one line
naming the file, line and column, with exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    from .cycles import CYCLE_MODES

    p = argparse.ArgumentParser(
        prog="batteryviz", description="Battery cycling data: read, summarise, convert."
    )
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command")

    info = sub.add_parser(
        "info", help="format, rows, cycles, time span, columns and metadata of a file"
    )
    info.add_argument("file", nargs="+", help="cycler file (several files of one test are joined)")
    info.add_argument("--format", help="reader name, to skip detection")
    info.add_argument(
        "--no-strict",
        action="store_true",
        help="read a file the plausibility gate refuses, with its findings as warnings",
    )

    s = sub.add_parser("summary", help="per-cycle summary table")
    s.add_argument("file", nargs="*", help="cycler file (omit with --example)")
    s.add_argument(
        "--example", action="store_true", help="use the bundled 34-cycle BaSyTec example"
    )
    s.add_argument("--format", help="reader name, to skip detection")
    s.add_argument(
        "--no-strict",
        action="store_true",
        help="read a file the plausibility gate refuses, with its findings as warnings",
    )
    s.add_argument(
        "--active-mass-mg", type=float, help="active material mass in mg (specific capacity)"
    )
    s.add_argument(
        "--nominal-capacity-mah",
        type=float,
        help="nominal capacity in mAh (C-rates, equivalent full cycles)",
    )
    s.add_argument(
        "--electrode-area-cm2", type=float, help="electrode area in cm² (areal capacity)"
    )
    s.add_argument(
        "--cycle-mode",
        choices=list(CYCLE_MODES),
        default="auto",
    )
    s.add_argument("--reference-cycle", type=int, help="cycle that retention is relative to")
    s.add_argument("--test-plan", help="test plan text file: adds nominal C-rates per cycle")
    s.add_argument("-o", "--output", help="write the table to .csv, .xlsx or .nc")

    d = sub.add_parser("dqdu", help="differential capacity curves, peaks and peak tracks")
    d.add_argument("file", nargs="+")
    d.add_argument("--format", help="reader name, to skip detection")
    d.add_argument(
        "--no-strict",
        action="store_true",
        help="read a file the plausibility gate refuses, with its findings as warnings",
    )
    d.add_argument("--cycles", help="cycles: '1,10,100', ranges '1-30', every Nth '1-1000:10'")
    d.add_argument("--direction", choices=["charge", "discharge", "both"], default="both")
    d.add_argument("--active-mass-mg", type=float, help="active mass in mg (units mAh/g/V)")
    d.add_argument("--smoothing-width-v", type=float, default=0.02)
    d.add_argument("--voltage-step", type=float, help="voltage grid step in V")
    d.add_argument(
        "-o",
        "--output",
        help="curves: .csv (long) or .wide.csv (Cycle n Charge U[V] / dQ/dU pairs)",
    )
    d.add_argument("--peaks", help="peak table .csv")

    e = sub.add_parser(
        "export", help="summary and dQ/dU to Excel, Origin text, MATLAB, netCDF or a text report"
    )
    e.add_argument("file", nargs="+")
    e.add_argument("--format", help="reader name, to skip detection")
    e.add_argument(
        "--no-strict",
        action="store_true",
        help="read a file the plausibility gate refuses, with its findings as warnings",
    )
    e.add_argument("--active-mass-mg", type=float)
    e.add_argument("--nominal-capacity-mah", type=float)
    e.add_argument("--cycles", help="dQ/dU cycles, e.g. '1,10,100' or '1-1000:50' (default: none)")
    e.add_argument(
        "-o",
        "--output",
        required=True,
        help=".xlsx (workbook), .mat (MATLAB), .origin.txt (Origin), .nc (netCDF), .report.txt "
        "(report)",
    )

    b = sub.add_parser("batch", help="run analyses over many files on a Dask cluster")
    b.add_argument("files", nargs="+", help="files, glob patterns or intake catalogs (.yaml)")
    b.add_argument(
        "--analysis",
        default="summary",
        help="comma-separated analyses (summary,dqdu,rate,cycle_life,...)",
    )
    b.add_argument(
        "--scheduler",
        help="address of a running Dask scheduler (default: DASK_SCHEDULER_ADDRESS, else a "
        "LocalCluster)",
    )
    b.add_argument("--workers", type=int, help="workers of the LocalCluster")
    b.add_argument("-o", "--output", required=True, help="results folder")

    cat = sub.add_parser("catalog", help="intake catalogs of cells")
    cat_sub = cat.add_subparsers(dest="catalog_command", required=True)
    build = cat_sub.add_parser("build", help="scan a folder and write an intake 2 catalog")
    build.add_argument("data_dir")
    build.add_argument("-o", "--output", required=True, help="catalog YAML")
    build.add_argument("--tag", action="append", default=[], help="tag every entry (repeatable)")

    c = sub.add_parser("convert", help="convert a cycler file to BDF CSV/Parquet, netCDF or zarr")
    c.add_argument("file", nargs="+")
    c.add_argument("--format", help="reader name, to skip detection")
    c.add_argument(
        "--no-strict",
        action="store_true",
        help="read a file the plausibility gate refuses, with its findings as warnings",
    )
    c.add_argument("-o", "--output", required=True)
    c.add_argument(
        "--max-memory-mb",
        type=float,
        help="memory budget; larger BaSyTec files are streamed to parquet",
    )

    sv = sub.add_parser("serve", help="the dashboard on a Panel server (http://localhost:5006)")
    sv.add_argument("--port", type=int, default=5006)
    sv.add_argument(
        "--address", default="localhost", help="interface to listen on (0.0.0.0: every interface)"
    )
    sv.add_argument(
        "--workspace",
        help="workspace root: a folder or any fsspec URL (default: BATTERYVIZ_WORKSPACE, "
        "else ~/.batteryviz/workspace)",
    )
    sv.add_argument("--auth", choices=["none", "basic", "oauth"], default="none")
    sv.add_argument(
        "--credentials",
        help="--auth basic: JSON file of users and hashed passwords (`batteryviz user add`)",
    )
    sv.add_argument(
        "--cookie-secret", help="required with auth (default: BATTERYVIZ_COOKIE_SECRET)"
    )
    sv.add_argument(
        "--admin", action="append", default=[], help="user allowed on /admin (repeatable)"
    )
    sv.add_argument(
        "--oauth-provider",
        help="Panel OAuth provider: github, gitlab, google, azure, okta, generic, ...",
    )
    sv.add_argument("--oauth-key")
    sv.add_argument("--oauth-secret")
    sv.add_argument("--oauth-redirect-uri")
    sv.add_argument("--oauth-encryption-key")
    sv.add_argument(
        "--allow-websocket-origin",
        action="append",
        default=[],
        help="HOST[:PORT] the browser reaches the server at (repeatable; never '*')",
    )
    sv.add_argument("--num-procs", type=int, default=1, help="server processes (0: one per core)")
    sv.add_argument("--max-upload-mb", type=int, default=500)
    sv.add_argument(
        "--scheduler",
        help="Dask scheduler address for heavy work (default: the server's own job processes)",
    )
    sv.add_argument(
        "--use-xheaders",
        action="store_true",
        help="behind a reverse proxy: trust X-Forwarded-* headers",
    )
    sv.add_argument("--prefix", help="URL prefix when the proxy serves the dashboard below a path")
    sv.add_argument("--show", action="store_true", help="open a browser tab")
    sv.add_argument(
        "--log-level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="of batteryviz's messages on stderr (info: what each session does)",
    )

    u = sub.add_parser("user", help="manage the users of `serve --auth basic`")
    u_sub = u.add_subparsers(dest="user_command", required=True)
    ua = u_sub.add_parser("add", help="add a user (or set a new password) in a credentials file")
    ua.add_argument("credentials", help="credentials JSON file (created when missing, mode 600)")
    ua.add_argument("name")
    ua.add_argument("--admin", action="store_true", help="may open /admin")
    ua.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    return p


def _read(files, fmt, strict: bool = True):
    import batteryviz as bv

    return bv.read(files[0] if len(files) == 1 else files, format=fmt, strict=strict)


#: Name endings of variables batteryviz gives a meaning and unit (BDF style); other columns a
#: reader keeps are listed by ``info`` as kept raw.
def kept_raw(name: str, attrs: dict) -> bool:
    """Whether a column was kept as written: under a reader's own prefix (``biologic_…``,
    ``generic_…``) with no role, i.e. batteryviz gives it no meaning of its own."""
    from .io.registry import READERS
    from .schema import VARIABLES

    prefixes = tuple(f"{reader}_" for reader in READERS) + ("generic_",)
    return name not in VARIABLES and not attrs.get("role") and name.startswith(prefixes)


def cmd_info(args) -> int:
    import numpy as np

    from .cycles import assign_cycles
    from .io.text import read_head
    from .schema import data_variables

    ds = _read(args.file, args.format, not args.no_strict)
    cyc = (
        assign_cycles(ds) if "current_ampere" in ds and "voltage_volt" in ds else None
    )  # None: a spectrum
    t = ds["test_time_second"].values if "test_time_second" in ds else np.zeros(0)
    size = sum(Path(f).stat().st_size for f in args.file)
    print(f"file        {', '.join(args.file)} ({size / 1024:.1f} KiB)")
    print(f"format      {ds.attrs.get('reader')} ({ds.attrs.get('cycler', '')})")
    if ds.attrs.get("variant"):
        print(f"variant     {ds.attrs['variant']}")
    if ds.attrs.get("detection"):
        print(f"detected    {ds.attrs['detection']}")
    if len(args.file) == 1:
        head = read_head(args.file[0])
        if not head.is_binary:
            print(f"encoding    {head.encoding}")
    print(f"rows        {ds.sizes['record']}")
    if cyc is None:
        print("cycles      none (an impedance spectrum: frequency, Re Z, Im Z)")
    else:
        print(f"cycles      {cyc.sizes['cycle']} ({cyc.attrs['cycle_rule']})")
    if t.size and np.isfinite(t).any():
        print(
            f"time span   {np.nanmin(t):g} – {np.nanmax(t):g} s "
            f"({(np.nanmax(t) - np.nanmin(t)) / 3600:.2f} h)"
        )
    else:
        print("time span   no records")
    print(
        "columns     "
        + ", ".join(
            f"{n} [{v.attrs.get('units', '')}]" if v.attrs.get("units") else n
            for n, v in data_variables(ds)
        )
    )
    raw = [
        f"{n} (from {v.attrs['source_column']!r})" if v.attrs.get("source_column") else n
        for n, v in data_variables(ds)
        if kept_raw(n, v.attrs)
    ]
    print(
        "kept raw    "
        + (
            ", ".join(raw) + "  (as written: no batteryviz meaning is given to them)"
            if raw
            else "nothing"
        )
    )
    print("metadata")
    for k, v in ds.attrs.items():
        if k not in ("quality_warnings", "conventions", "detection", "variant"):
            print(f"  {k}: {v}")
    _print_warnings(ds.attrs.get("quality_warnings", ""))
    return 0


def cmd_summary(args) -> int:
    from .analysis.summary import CycleSummary
    from .export import summary_table, write_table

    if args.example:
        from .examples import example_file

        files = [str(example_file())]
        if args.nominal_capacity_mah is None:
            args.nominal_capacity_mah = 5000.0
    else:
        files = args.file
    if not files:
        print("batteryviz summary: give a FILE or --example", file=sys.stderr)
        return 2
    ds = _read(files, args.format, not args.no_strict)
    analysis = CycleSummary(
        cycle_mode=args.cycle_mode,
        active_mass_mg=args.active_mass_mg,
        nominal_capacity_mah=args.nominal_capacity_mah,
        electrode_area_cm2=args.electrode_area_cm2,
        reference_cycle=args.reference_cycle,
        test_plan=args.test_plan,
    )
    summary = analysis.compute(ds)
    if args.output:
        write_table(summary, args.output)
        print(f"wrote {len(summary.cycle)} cycles to {args.output}")
    elif summary.sizes.get("cycle", 0) == 0:
        print("no cycles to summarise")
    else:
        import pandas as pd

        cols = [
            "cycle",
            "charge_capacity_ah",
            "discharge_capacity_ah",
            "coulombic_efficiency_percent",
            "mean_discharge_voltage_v",
            "discharge_c_rate",
            "retention_percent",
        ]
        if "specific_discharge_capacity_mah_g" in summary:
            cols.insert(3, "specific_discharge_capacity_mah_g")
        table = summary_table(summary)
        with pd.option_context(
            "display.max_rows", 60, "display.width", 160, "display.precision", 4
        ):
            print(table[[c for c in cols if c in table]].to_string(index=False))
    print(f"\ncapacity: {summary.attrs['capacity_source']}")
    print(f"cycles:   {summary.attrs['cycle_rule']}")
    print(f"CE:       {summary.attrs['ce_definition']}")
    _print_warnings(summary.attrs.get("quality_warnings", ""))
    return 0


def cmd_dqdu(args) -> int:
    from .analysis.dqdu import DifferentialCapacity
    from .cycles import parse_cycle_selection
    from .export import dqdu_long, dqdu_wide, peak_table

    ds = _read(args.file, args.format, not args.no_strict)
    analysis = DifferentialCapacity(
        cycles=parse_cycle_selection(args.cycles),
        direction=args.direction,
        units="mAh/g/V" if args.active_mass_mg else "mAh/V",
        active_mass_mg=args.active_mass_mg,
        smoothing_width_v=args.smoothing_width_v,
        voltage_step=args.voltage_step,
    )
    result = analysis.compute(ds)
    peaks = peak_table(result)
    if args.output:
        table = dqdu_wide(result) if args.output.endswith(".wide.csv") else dqdu_long(result)
        table.to_csv(args.output, index=False)
        print(f"wrote dQ/dU of {result.sizes['cycle']} cycle(s) to {args.output}")
    if args.peaks:
        peaks.to_csv(args.peaks, index=False)
        print(f"wrote {len(peaks)} peak(s) to {args.peaks}")
    if not args.output and not args.peaks:
        print(peaks.to_string(index=False))
    print(f"\nmethod: {result.attrs['method']}")
    return 0


def cmd_export(args) -> int:
    from . import export as ex
    from .analysis.dqdu import DifferentialCapacity
    from .analysis.summary import CycleSummary
    from .cycles import parse_cycle_selection

    ds = _read(args.file, args.format, not args.no_strict)
    summary = CycleSummary(
        active_mass_mg=args.active_mass_mg, nominal_capacity_mah=args.nominal_capacity_mah
    ).compute(ds)
    cycles = parse_cycle_selection(args.cycles)
    dqdu = (
        DifferentialCapacity(
            cycles=cycles,
            active_mass_mg=args.active_mass_mg,
            units="mAh/g/V" if args.active_mass_mg else "mAh/V",
        ).compute(ds)
        if cycles
        else None
    )
    out = args.output
    if out.endswith(".xlsx"):
        ex.write_excel(out, summary, dqdu)
    elif out.endswith(".mat"):
        ex.write_matlab(out, summary=summary, **({"dqdu": dqdu} if dqdu is not None else {}))
    elif out.endswith(".origin.txt"):
        ex.origin_summary(summary, out)
    elif out.endswith(".report.txt"):
        ex.write_report(out, ds, summary, dqdu)
    elif out.endswith(".nc"):
        ex.write_table(summary, out)
    else:
        print(
            "batteryviz export: output must end in .xlsx, .mat, .origin.txt, .report.txt or .nc",
            file=sys.stderr,
        )
        return 2
    print(f"wrote {out}")
    return 0


def cmd_catalog(args) -> int:
    from .catalog import build_catalog

    cat = build_catalog(args.data_dir, args.output, tags=args.tag)
    skipped = cat.metadata.get("skipped", {})
    from .catalog import cell_names

    print(
        f"wrote {len(cell_names(cat))} cell(s) to {args.output}"
        + (f"; skipped {len(skipped)} file(s) that are not cell data" if skipped else "")
    )
    for f, why in skipped.items():
        print(f"  skipped {f}: {why}")
    return 0


def _batch_files(patterns: list[str]) -> list[str]:
    """Files from paths, glob patterns and intake catalogs (``.yaml``)."""
    import glob

    files: list[str] = []
    for pattern in patterns:
        if pattern.endswith((".yaml", ".yml")):
            from .catalog import cell_names, open_catalog

            cat = open_catalog(pattern)
            for name in cell_names(cat):
                url = cat[name].kwargs["args"][0].url
                files.append(url[len("file://") :] if url.startswith("file://") else url)
        else:
            files.extend(glob.glob(pattern) or [pattern])
    return sorted(set(files))


def cmd_batch(args) -> int:
    from .batch import run_batch
    from .cluster import get_client

    files = _batch_files(args.files)
    client = get_client(args.scheduler, n_workers=args.workers)
    try:
        report = run_batch(files, args.output, analyses=args.analysis.split(","), client=client)
    finally:
        cluster = client.cluster
        client.close()
        if cluster is not None:
            cluster.close()
    print(report)
    for f, why in report.failed.items():
        print(f"  failed: {f}: {why}")
    return 0 if not report.failed else 1


def cmd_convert(args) -> int:
    import batteryviz as bv

    from .errors import FileTooLargeError
    from .export import write_dataset

    limit = None if args.max_memory_mb is None else int(args.max_memory_mb * 2**20)
    try:
        ds = (
            bv.read(
                args.file[0], format=args.format, strict=not args.no_strict, max_memory_bytes=limit
            )
            if len(args.file) == 1
            else _read(args.file, args.format, not args.no_strict)
        )
    except FileTooLargeError:
        out = Path(args.output)
        reader = bv.detect(args.file[0]) if not args.format else bv.READERS[args.format]
        if reader.name != "basytec" or not out.name.endswith(".parquet"):
            raise
        from .io.basytec import stream_to_parquet

        stream_to_parquet(args.file[0], out)
        print(f"streamed {args.file[0]} to {out} (larger than the memory budget)")
        return 0
    out = write_dataset(ds, args.output)
    print(f"wrote {ds.sizes['record']} records to {out}")
    return 0


def _print_warnings(text: str) -> None:
    lines = [ln for ln in text.split("\n") if ln]
    if lines:
        print("warnings")
        for ln in lines:
            print(f"  - {ln}")


def _log_to_stderr(level: str) -> None:
    """batteryviz's own log messages, with time and level, on stderr."""
    import logging

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("batteryviz")
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    # written here only: a library that configures the root logger later (it happened on the
    # first failed upload) would otherwise write every line a second time
    logger.propagate = False


def cmd_serve(args) -> int:
    from .serve import ServeConfig, default_workspace, make_server

    try:
        import holoviews  # noqa: F401
        import panel  # noqa: F401
    except ImportError as exc:
        print(
            f"batteryviz serve needs the dashboard extras ({exc.name} is missing): "
            "pip install 'batteryviz[server]'",
            file=sys.stderr,
        )
        return 2

    if args.scheduler:
        os.environ["BATTERYVIZ_SCHEDULER"] = args.scheduler
    _log_to_stderr(args.log_level)
    config = ServeConfig(
        workspace=args.workspace or default_workspace(),
        auth=args.auth,
        credentials=args.credentials,
        cookie_secret=args.cookie_secret,
        admins=tuple(args.admin),
        max_upload_mb=args.max_upload_mb,
        oauth_provider=args.oauth_provider,
        oauth_key=args.oauth_key,
        oauth_secret=args.oauth_secret,
        oauth_redirect_uri=args.oauth_redirect_uri,
        oauth_encryption_key=args.oauth_encryption_key,
    )
    extra = {}
    if args.use_xheaders:
        extra["use_xheaders"] = True
    if args.prefix:
        extra["prefix"] = args.prefix
    print(
        f"batteryviz: workspace {config.workspace}; auth {config.auth}; "
        f"http://{args.address}:{args.port}/"
    )
    from .serve import exposure_warning

    warning = exposure_warning(config.auth, args.address)
    if warning:
        print(warning, file=sys.stderr)
    _stop_on_sigterm()
    try:
        make_server(
            config,
            port=args.port,
            address=args.address,
            websocket_origin=args.allow_websocket_origin or None,
            num_procs=args.num_procs,
            show=args.show,
            **extra,
        )
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: a normal stop
        print("batteryviz: stopped", file=sys.stderr)
    return 0


def _stop_on_sigterm() -> None:
    """Make SIGTERM (what systemd, Docker and Kubernetes send) stop the server as Ctrl-C does:
    through Python's shutdown, which ends the job processes and the resource tracker. By default
    SIGTERM ends the process at once and leaves those running, orphaned."""
    import signal

    def stop(_signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


def cmd_user(args) -> int:
    import getpass

    from .serve import add_user

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif not sys.stdin.isatty():
        print(
            "batteryviz user: standard input is not a terminal, so the password cannot be asked "
            'for; pipe it in with --password-stdin (e.g. `printf %s "$PW" | batteryviz user add '
            "users.json NAME --password-stdin`)",
            file=sys.stderr,
        )
        return 2
    else:
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            print("batteryviz user: the passwords differ", file=sys.stderr)
            return 2
    add_user(args.credentials, args.name, password, admin=args.admin)
    print(f"{args.name} {'(admin) ' if args.admin else ''}saved in {args.credentials}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from .errors import BatteryvizError

    args = _parser().parse_args(argv)
    if args.version:
        from . import __version__

        print(__version__)
        return 0
    if not args.command:
        _parser().print_help()
        return 0
    try:
        return {
            "info": cmd_info,
            "summary": cmd_summary,
            "convert": cmd_convert,
            "dqdu": cmd_dqdu,
            "export": cmd_export,
            "batch": cmd_batch,
            "catalog": cmd_catalog,
            "serve": cmd_serve,
            "user": cmd_user,
        }[args.command](args)
    except (BatteryvizError, FileNotFoundError, IsADirectoryError, ValueError) as exc:
        print(f"batteryviz {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
