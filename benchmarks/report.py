"""Turn scenario results into a Markdown table, a JSON file and the scenario 3 plot.

Results accumulate in `results/latest.json` by scenario number, so running one scenario again
replaces only its own section; the Markdown and the README section are made from that file.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from benchmarks.scenarios import VERIFIED, ScenarioResult

MiB = 2**20
README_START = "<!-- results:start -->"
README_END = "<!-- results:end -->"


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory / 2**30, 1),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


def scenario_record(result: ScenarioResult, scale: str) -> dict[str, Any]:
    return {
        "number": result.number,
        "title": result.title,
        "unit": result.unit,
        "setup": result.setup,
        "scale": scale,
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "rows": [row.as_dict() for row in result.rows],
        "checks": [check.as_dict() for check in result.checks],
        "notes": result.notes,
        "table": result.table,
        "machine": machine(),
    }


def merge(path: Path, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Write this run's scenarios into `path`, keeping the other scenarios from earlier runs."""
    document: dict[str, Any] = {"scenarios": {}}
    if path.exists():
        try:
            document = json.loads(path.read_text())
        except ValueError:
            pass
    document["machine"] = machine()
    for record in records:
        document.setdefault("scenarios", {})[str(record["number"])] = record
    document["scenarios"] = dict(sorted(document["scenarios"].items(), key=lambda item: int(item[0])))
    path.write_text(json.dumps(document, indent=1) + "\n")
    return document


def _rate(row: dict[str, Any], unit: str) -> float:
    return row["mib_per_s"] if unit == "MiB/s" else row["images_per_s"]


def _reference(rows: list[dict[str, Any]], row: dict[str, Any]) -> dict[str, Any] | None:
    name = "glanceclient compare" if "compare" in row["contender"] else "glanceclient loop"
    return next((r for r in rows if r["contender"] == name), None)


def _cpu(row: dict[str, Any], key: str) -> str:
    """CPU seconds, or nothing for results written before they were measured."""
    return f"{row[key]:.1f}" if key in row else ""


def _cpu_per(row: dict[str, Any], key: str) -> str:
    """CPU seconds per GiB moved and milliseconds per image ("4.3 / 12"): our CPU is the figure
    the machine's noise moves least, and these make rows of different sizes comparable."""
    if key not in row:
        return ""
    per_gib = f"{row[key] / (row['bytes'] / 2**30):.1f}" if row.get("bytes") else "-"
    per_image = f"{row[key] * 1000 / row['images']:.1f}" if row.get("images") else "-"
    return f"{per_gib} / {per_image}"


def scenario_markdown(record: dict[str, Any]) -> str:
    if record.get("table") == "scale":
        return scale_markdown(record)
    unit = record["unit"]
    rows = record["rows"]
    lines = [
        f"### {record['number']}. {record['title']}",
        "",
        f"{record['setup']} ({record['scale']} scale, {record['when']}{_on(record)})",
        "",
        f"| contender | -j | wall s | MiB/s | images/s | peak RSS MiB | CPU s | CPU s/GiB / ms/image "
        f"| servers' CPU s | servers' s/GiB / ms/image | {unit} × glanceclient | note |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        reference = _reference(rows, row)
        ratio = ""
        if reference and _rate(reference, unit):
            ratio = f"{_rate(row, unit) / _rate(reference, unit):.1f}×"
        name = row["contender"].replace("|", "\\|")  # a pipe would end the table cell
        lines.append(
            f"| {name} | {row['concurrency']} | {row['seconds']:.2f} | {row['mib_per_s']:.1f} | "
            f"{row['images_per_s']:.1f} | {row['peak_rss_mib']:.0f} | {_cpu(row, 'cpu_s')} | "
            f"{_cpu_per(row, 'cpu_s')} | {_cpu(row, 'server_cpu_s')} | {_cpu_per(row, 'server_cpu_s')} | "
            f"{ratio} | {row['note']} |"
        )
    return "\n".join(lines + _targets(record)) + "\n"


def scale_markdown(record: dict[str, Any]) -> str:
    """Scenario 8: one row per command and listing size, with the memory over the empty listings."""
    lines = [
        f"### {record['number']}. {record['title']}",
        "",
        f"{record['setup']} ({record['scale']} scale, {record['when']}{_on(record)})",
        "",
        "| command | images listed | wall s | images/s | peak RSS MiB | over empty MiB | bytes per image "
        "over empty | CPU s | CPU µs/image | servers' CPU s | servers' µs/image | runs s | note |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for row in record["rows"]:
        listed = row.get("listed", row["images"])
        over = f"{row['over_empty_mib']:.1f}" if "over_empty_mib" in row else ""
        per_image = f"{row['bytes_per_image']:,}" if "bytes_per_image" in row else ""
        runs = ", ".join(f"{seconds:.2f}" for seconds in row.get("runs_s", ()))
        lines.append(
            f"| {row['contender']} | {listed:,} | {row['seconds']:.2f} | {row['images_per_s']:,.0f} | "
            f"{row['peak_rss_mib']:.0f} | {over} | {per_image} | {_cpu(row, 'cpu_s')} | {_micros(row, 'cpu_s', listed)} | "
            f"{_cpu(row, 'server_cpu_s')} | {_micros(row, 'server_cpu_s', listed)} | {runs} | {row['note']} |"
        )
    return "\n".join(lines + _targets(record)) + "\n"


def _micros(row: dict[str, Any], key: str, images: int) -> str:
    """CPU microseconds per image listed (scenario 8: a listing moves no bytes)."""
    return f"{row[key] * 1e6 / images:.0f}" if key in row and images else ""


def _on(record: dict[str, Any]) -> str:
    """Where a scenario ran, when its record says: scenarios run at different times may have
    run on different machines."""
    info = record.get("machine")
    return f"; {info['cpu']}, {info['cores']} cores" if info else ""


def _targets(record: dict[str, Any]) -> list[str]:
    lines = []
    if record["checks"]:
        lines.append("")
        lines.append("Targets:")
        for check in record["checks"]:
            mark = "**met**" if check["met"] else "**MISSED**"
            target = check["target"].replace("|", "\\|")
            lines.append(f"- {mark}: {target} — measured {check['value']:.2f}")
    for note in record.get("notes", []):
        lines.append(f"- note: {note}")
    return lines


def markdown(document: dict[str, Any]) -> str:
    info = document["machine"]
    head = (
        f"Machine of the latest run: {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB, "
        f"{info['system']}, Python {info['python']}; servers and clients on the same machine. Each "
        "scenario names the machine it ran on.\n"
    )
    return head + "\n" + "\n".join(scenario_markdown(record) for record in document["scenarios"].values())


def plot_distance(document: dict[str, Any], path: Path) -> bool:
    """Scenario 3: throughput against concurrency, ours and curl|curl, sequential baselines flat."""
    record = document["scenarios"].get("3")
    if record is None:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    rows = record["rows"]
    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=110)
    for names, style in (((VERIFIED, "replicator (md5+sha512)"), "o-"), (("curl|curl",), "s--")):
        name = names[0]
        # Results measured before one hash in flight named our rows for the two hashes they computed.
        points = sorted((r["concurrency"], r["mib_per_s"]) for r in rows if r["contender"] in names)
        if points:
            label = (
                "replicator livecopy -j N (verified)"
                if name.startswith("replicator")
                else "curl GET | curl PUT, xargs -P N"
            )
            axes.plot([p[0] for p in points], [p[1] for p in points], style, label=label)
            if name.startswith("replicator") and points[0][0] == 1:
                # Both axes are logarithmic: perfectly linear scaling is this straight line.
                axes.plot(
                    [p[0] for p in points],
                    [points[0][1] * p[0] for p in points],
                    color="grey",
                    linewidth=0.8,
                    linestyle="-.",
                    label="linear scaling of -j 1",
                )
    for name, color in (("glanceclient loop", "tab:red"), ("old-tool shape", "tab:purple")):
        row = next((r for r in rows if r["contender"] == name), None)
        if row:
            axes.axhline(row["mib_per_s"], color=color, linestyle=":", label=f"{name} (sequential)")
    axes.set_xscale("log", base=2)
    axes.set_yscale("log", base=2)
    axes.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    axes.set_xticks([1, 2, 4, 8, 16, 32], labels=["1", "2", "4", "8", "16", "32"])
    axes.set_xlabel("concurrency (--concurrency / xargs -P)")
    axes.set_ylabel("MiB/s")
    axes.set_title(f"Scenario 3, distance: {record['setup']}", fontsize=9)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return True


def update_readme(readme: Path, text: str) -> None:
    """Replace the README's results section (between the markers) with `text`."""
    content = readme.read_text()
    start, end = content.find(README_START), content.find(README_END)
    if start < 0 or end < start:
        return
    content = content[: start + len(README_START)] + "\n" + text + "\n" + content[end:]
    readme.write_text(content)


SCALE_COLOURS = {"target empty": "tab:green", "compare": "tab:blue", "livecopy": "tab:orange"}


def plot_scale(document: dict[str, Any], path: Path) -> bool:
    """Scenario 8: peak RSS over the empty listings, and images listed per second, against the
    number of images, per command (and per older version, when one was run beside ours)."""
    record = document["scenarios"].get("8")
    if record is None:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    series: dict[str, list[dict[str, Any]]] = {}
    for row in record["rows"]:
        if "bytes_per_image" in row:
            series.setdefault(row["contender"], []).append(row)
    figure, (memory, speed) = plt.subplots(1, 2, figsize=(10, 5), dpi=110)
    for name, rows in series.items():
        rows.sort(key=lambda r: r["listed"])
        listed = [r["listed"] for r in rows]
        # One colour per command; an older version's runs of it dashed.
        color = next((c for word, c in SCALE_COLOURS.items() if word in name), None)
        style = {"color": color, "marker": "o", "linestyle": "--" if "before" in name else "-"}
        memory.plot(listed, [max(r["over_empty_mib"], 0.1) for r in rows], label=name, **style)
        speed.plot(listed, [r["images_per_s"] for r in rows], label=name, **style)
    every = sorted({r["listed"] for rows in series.values() for r in rows})
    if every:
        # The target of issue 16: 512 bytes per image listed, as a line through the origin.
        memory.plot(every, [512 * n / 2**20 for n in every], color="grey", linestyle=":", label="512 bytes per image")
    for axes in (memory, speed):
        axes.set_xscale("log")
        axes.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:,.0f}"))
        axes.set_xlabel("images listed on each side")
        axes.grid(True, alpha=0.3)
    memory.set_yscale("log")
    memory.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    memory.set_ylabel("peak RSS over the empty listings, MiB")
    memory.set_title("Memory of a run", fontsize=9)
    speed.set_ylim(bottom=0)
    speed.set_ylabel("images listed per second")
    speed.set_title("Speed (both listings walked side by side)", fontsize=9)
    figure.suptitle(f"Scenario 8: {record['setup']}", fontsize=8)
    figure.legend(*memory.get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=7, frameon=False)
    figure.tight_layout(rect=(0, 0.12, 1, 1))
    figure.savefig(path)
    plt.close(figure)
    return True
