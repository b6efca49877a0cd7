"""The ``soarkit`` command line.

Every user-facing failure is a :class:`~soar_kit.errors.SoarKitError`, printed as one line
(``soarkit: error: ...``) with exit code 2 for bad input and 1 for a failed run, never a
traceback. Plugins may add commands through the ``soarkit_register_commands`` hook.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from soar_kit import __version__
from soar_kit.errors import InvalidInput, SoarKitError
from soar_kit.plugins import KINDS, LOAD_ENV, get_manager

console = Console()
err_console = Console(stderr=True)

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


def fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
    err_console.print(
        f"[bold red]soarkit: error:[/] {escape(message)}", highlight=False, soft_wrap=True
    )
    sys.exit(code)


def report_plugin_errors() -> None:
    for line in get_manager().errors:
        err_console.print(
            f"[yellow]soarkit: warning:[/] {escape(line)}", highlight=False, soft_wrap=True
        )


class SoarGroup(click.Group):
    """Turns SoarKitError into one clear line and an exit code instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SoarKitError as exc:
            fail(str(exc), EXIT_BAD_INPUT if _is_input_error(exc) else EXIT_FAILED)


def _is_input_error(exc: SoarKitError) -> bool:
    from soar_kit.errors import ConfigError, PluginError, UnknownNameError

    return isinstance(exc, (ConfigError, PluginError, UnknownNameError, InvalidInput))


@click.group(cls=SoarGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="soarkit")
def cli() -> None:
    """soar-kit: let a model teach itself past problems it cannot solve (SOAR).

    A teacher copy of a model writes stepping-stone problems, student copies train on them by
    RL, and the teacher is rewarded by the students' measured gain on hard problems.

    \b
    Start here:
      soarkit plugins                  what is installed (domains, trainers, rewards, ...)
      soarkit run --domain math        the whole loop on the embedded soar-mini model
      soarkit verify --domain math --reference '1/2' --answer '\\boxed{0.5}'

    Installed plugins load from the 'soar_kit' entry-point group; set SOARKIT_LOAD_PLUGINS to a
    comma-separated list of names (or to '' for none) to restrict which load.
    """


# -- plugins ------------------------------------------------------------------------------------


@cli.command("plugins")
@click.option("--kind", type=click.Choice(sorted(KINDS)), help="Show only one kind.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins_cmd(kind: str | None, as_json: bool) -> None:
    """List everything plugins provide: kind, name, distribution, version."""
    manager = get_manager()
    rows = []
    for k in [kind] if kind else list(KINDS):
        for item in manager.collect(k).values():
            status = None
            available = getattr(item.obj, "available", None)
            if callable(available):
                try:
                    status = available()
                except Exception as exc:  # a plugin's probe must not break the listing
                    status = f"{type(exc).__name__}: {exc}"
            rows.append(
                {
                    "kind": k,
                    "name": item.name,
                    "distribution": item.origin.distribution,
                    "version": item.origin.version,
                    "description": getattr(item.obj, "description", ""),
                    "available": status is None,
                    "note": status or "",
                }
            )
    report_plugin_errors()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="soar-kit plugins", title_justify="left")
    for col in ("kind", "name", "distribution", "version", "description"):
        table.add_column(col, overflow="fold")
    for r in rows:
        # plugin text is not markup: an install hint such as soar-kit[vllm] must print as is
        note = escape(r["description"] if r["available"] else f"unavailable: {r['note']}")
        desc = note if r["available"] else f"[dim]{note}[/]"
        cells = (escape(str(r[c])) for c in ("kind", "name", "distribution", "version"))
        table.add_row(*cells, desc)
    console.print(table)


# -- verify -------------------------------------------------------------------------------------


@cli.command("verify")
@click.option("--domain", "domain_name", required=True, help="Domain whose verifier to use.")
@click.option(
    "--problem",
    "problem_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The problem as a JSON file in the domain's own format.",
)
@click.option("--reference", help="A bare reference answer (domains that allow it, e.g. math).")
@click.option("--answer", help="The candidate answer text.")
@click.option(
    "--answer-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read the candidate from a file ('-' for stdin).",
)
@click.option("--option", "options", multiple=True, help="Domain option KEY=VALUE (repeatable).")
@click.option("--json", "as_json", is_flag=True, help='One line: {"correct", "reward", "reason"}.')
def verify_cmd(
    domain_name: str,
    problem_file: Path | None,
    reference: str | None,
    answer: str | None,
    answer_file: Path | None,
    options: tuple[str, ...],
    as_json: bool,
) -> None:
    """Check one candidate answer exactly the way a run would.

    Exit code 0 whenever a verdict was reached (right or wrong); 2 for unusable input.
    With no --answer/--answer-file the candidate is read from standard input.
    """
    from soar_kit.config import parse_override

    domain = get_manager().domain(domain_name)
    opts = dict((".".join(k), v) for k, v in (parse_override(o) for o in options))
    domain = domain.with_options(opts)
    if (problem_file is None) == (reference is None):
        raise InvalidInput("give exactly one of --problem FILE or --reference ANSWER")
    if problem_file is not None:
        try:
            data = json.loads(problem_file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InvalidInput(f"cannot read problem file {problem_file}: {exc.strerror}") from exc
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"problem file {problem_file}: invalid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise InvalidInput(f"problem file {problem_file}: expected a JSON object")
        try:
            problem = domain.problem_from_json(data)
        except InvalidInput as exc:
            raise InvalidInput(f"problem file {problem_file}: {exc}") from exc
    else:
        problem = domain.problem_from_reference(reference or "")
    if answer is not None and answer_file is not None:
        raise InvalidInput("give at most one of --answer and --answer-file")
    if answer is not None:
        candidate = answer
    elif answer_file is not None and str(answer_file) != "-":
        try:
            candidate = answer_file.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise InvalidInput(f"cannot read answer file {answer_file}: {exc.strerror}") from exc
    else:
        candidate = sys.stdin.read()
    verdict = domain.verify(problem, candidate)
    if as_json:
        click.echo(json.dumps(verdict.model_dump(include={"correct", "reward", "reason"})))
        return
    mark = "[bold green]correct[/]" if verdict.correct else "[bold red]not correct[/]"
    console.print(f"{mark}  reward={verdict.reward:g}  {escape(verdict.reason)}", highlight=False)


# -- check-plugin -------------------------------------------------------------------------------


@cli.command("check-plugin")
@click.argument("name")
@click.option("--seed", default=0, show_default=True)
def check_plugin_cmd(name: str, seed: int) -> None:
    """Run the conformance kit on domain NAME (what a plugin author runs in CI)."""
    from soar_kit.testing import check_domain

    domain = get_manager().domain(name)
    results = check_domain(domain, seed=seed)
    table = Table(title=f"conformance of domain '{escape(name)}'", title_justify="left")
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail", overflow="fold")
    for r in results:
        table.add_row(escape(r.name), "[green]ok[/]" if r.ok else "[red]FAIL[/]", escape(r.detail))
    console.print(table)
    failed = sum(not r.ok for r in results)
    if failed:
        fail(f"domain '{name}' fails {failed} of {len(results)} conformance checks", EXIT_FAILED)
    console.print(f"[green]all {len(results)} checks passed[/]")


# -- run --------------------------------------------------------------------------------------


def config_options(fn: Any) -> Any:
    """Options shared by commands that build a run configuration."""
    for option in reversed(
        [
            click.option(
                "--config",
                "config_file",
                type=click.Path(dir_okay=False, path_type=Path),
                help="A TOML or YAML run configuration, or a shipped preset's name "
                "(paper-llama-3b: the paper's Table 3 values).",
            ),
            click.option(
                "--set",
                "overrides",
                multiple=True,
                metavar="KEY=VALUE",
                help="Override a config field, e.g. --set student.rl.lr=1e-5 (repeatable).",
            ),
            click.option("--model", help="Model: soar-mini (default), smollm2-135m, or a folder."),
            click.option("--seed", type=int, help="Seed of everything random in the run."),
        ]
    ):
        fn = option(fn)
    return fn


def build_config(config_file: Path | None, overrides: tuple[str, ...], **typed: Any) -> Any:
    """File (or preset) < typed flags < --set; typed flags map to dotted config paths."""
    from soar_kit.config import load_config, resolve_config_path

    if config_file is not None:
        config_file, _ = resolve_config_path(config_file)
    base = {k: v for k, v in typed.items() if v is not None}
    return load_config(config_file, list(overrides), base=base)


def config_origin(config_file: Path | None, model: str) -> tuple[str, bool]:
    """The run's first line: where its settings come from; True when they are a warning
    (soar-mini's toy defaults applied to another model)."""
    from soar_kit.config import RunConfig, preset_note, presets_for, resolve_config_path

    if config_file is None:
        if model != "soar-mini":
            student = RunConfig().student.rl  # the numbers said are the defaults, not a copy
            own = presets_for(model)
            hint = f"use --config {own[0]} (written for it)" if own else "use a --config"
            return (
                f"config: built-in defaults, sized for soar-mini on a 2-core CPU (student lr "
                f"{student.lr:g}, {student.sampling.max_new_tokens} new tokens), applied to "
                f"model '{model}'; {hint}, or --config paper-llama-3b for the paper's values",
                True,
            )
        return "config: built-in defaults (sized for soar-mini on a 2-core CPU)", False
    path, preset = resolve_config_path(config_file)
    if preset is not None:
        return f"config: preset {preset} ({preset_note(path)})", False
    return f"config: file {path}", False


@cli.command("run")
@click.option("--domain", "domain_name", help="Problem domain (see `soarkit plugins`).")
@config_options
@click.option("--reward", help="Teacher reward scheme: grounded (default), learnability, ...")
@click.option("--steps", type=int, help="Outer (teacher) steps.")
@click.option(
    "--run-dir", type=click.Path(file_okay=False, path_type=Path), help="Where to write the run."
)
@click.option("--resume", is_flag=True, help="Continue the run in --run-dir after a stop or kill.")
@click.option(
    "--ray-address",
    metavar="ADDRESS",
    help="Train the inner students on this Ray cluster (sets executor.name=ray and "
    "executor.options.address; needs the ray extra). See docs/scaling.md.",
)
def run_cmd(
    domain_name: str | None,
    config_file: Path | None,
    overrides: tuple[str, ...],
    model: str | None,
    seed: int | None,
    reward: str | None,
    steps: int | None,
    run_dir: Path | None,
    resume: bool,
    ray_address: str | None,
) -> None:
    """Run the SOAR teacher-student loop on a domain.

    \b
    Examples:
      soarkit run --domain math
      soarkit run --domain math --reward learnability --seed 1
      soarkit run --config paper.toml --model ./Llama-3.2-3B-Instruct
      soarkit run --run-dir runs/x --resume      (after a kill: continues where it stopped)

    The effective configuration, a metrics log, checkpoints and the promotion questions are
    written to the run directory; `soarkit report RUN_DIR` renders plots.
    """
    from soar_kit.loop import run_soar

    if resume:
        if run_dir is None:
            raise InvalidInput("--resume needs --run-dir (the run to continue)")
        if config_file is None and (run_dir / "config.toml").exists():
            config_file = run_dir / "config.toml"  # the run's own effective config
    config = build_config(
        config_file,
        overrides,
        **{
            "domain.name": domain_name,
            "model.name": model,
            "seed": seed,
            "meta.reward": reward,
            "meta.outer_steps": steps,
            "run_dir": str(run_dir) if run_dir else None,
            "executor.name": "ray" if ray_address else None,
            "executor.options.address": ray_address,
        },
    )
    manager = get_manager()
    manager.domain(config.domain.name)  # unknown domain: fail before any work
    report_plugin_errors()
    origin, warn = config_origin(config_file, config.model.name)
    console.print(f"[yellow]{escape(origin)}[/]" if warn else escape(origin), highlight=False)
    run_soar(config, resume=resume, console=console)


@cli.command("report")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
def report_cmd(run_dir: Path) -> None:
    """Render PNG plots and a markdown summary of a run directory (finished or not)."""
    from soar_kit.report import write_report

    out = write_report(run_dir)
    console.print(f"wrote {escape(str(out / 'progress.png'))} and {escape(str(out / 'summary.md'))}")


@cli.command("hardset")
@click.option("--domain", "domain_name", required=True, help="Problem domain.")
@config_options
@click.option("--k", type=int, help="Attempts per problem at temperature 1.0 (paper: 128).")
@click.option("--problem-set", help="Domain problem set to mine (or mini:hard, mini:<level>).")
@click.option("--size", type=int, help="Candidate problems to try.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the hard set (JSON lines; train/test split per line).",
)
def hardset_cmd(
    domain_name: str,
    config_file: Path | None,
    overrides: tuple[str, ...],
    model: str | None,
    seed: int | None,
    k: int | None,
    problem_set: str | None,
    size: int | None,
    out: Path,
) -> None:
    """Mine the fail@k problems of a model and split them 50/50 into train and test.

    Use the file in a run with --set hardset.path=FILE.
    """
    from soar_kit.components import domain_for, load_run_policy, resolve_components
    from soar_kit.hardset import mine_configured_hard_set
    from soar_kit.progress import make_progress

    config = build_config(
        config_file,
        overrides,
        **{
            "domain.name": domain_name,
            "model.name": model,
            "seed": seed,
            "hardset.k": k,
            "hardset.problem_set": problem_set,
            "hardset.size": size,
        },
    )
    parts = resolve_components(config)
    with make_progress(console) as progress:
        policy = load_run_policy(config, parts.domain)
        domain = domain_for(config, parts.domain, policy)
        hard = mine_configured_hard_set(config, domain, parts.backend, policy, progress)
    hard.save(out)
    console.print(
        f"{len(hard.train) + len(hard.test)} of {hard.mined_from} problems are fail@{hard.k}: "
        f"{len(hard.train)} train, {len(hard.test)} test -> {escape(str(out))}"
    )


@cli.command("eval")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--seeds", default=3, show_default=True, help="Seeds per method.")
@click.option("--samples", default=32, show_default=True, help="Samples per problem for pass@k.")
@click.option(
    "--method",
    "methods",
    multiple=True,
    help="base, hard-only, ps, pq-curriculum, pq-mixed (repeatable; default all).",
)
@click.option("--train-steps", type=int, help="RL steps per training phase (default 2x inner).")
def eval_cmd(
    run_dir: Path, seeds: int, samples: int, methods: tuple[str, ...], train_steps: int | None
) -> None:
    """pass@k on a run's hard test part: base, Hard-Only, promoted student, PQ students.

    Writes RUN_DIR/eval.json and prints mean ± std over seeds.
    """
    from soar_kit.commands.evaluate import METHODS, evaluate_run

    evaluate_run(
        run_dir,
        seeds=seeds,
        samples=samples,
        methods=list(methods) or list(METHODS),
        train_steps=train_steps,
        console=console,
    )


@cli.group("mini")
def mini_group() -> None:
    """The embedded soar-mini model: build it from its corpus, or see where it comes from."""


@mini_group.command("build")
@click.option("--domain", "domain_name", default="math", show_default=True)
@click.option("--seed", default=0, show_default=True, help="Build seed (corpus, init, batches).")
@click.option("--force", is_flag=True, help="Build anew even if the cache or package has it.")
@click.option(
    "--ship", is_flag=True, help="Copy the build into the package (soar_kit/mini/shipped/)."
)
def mini_build_cmd(domain_name: str, seed: int, force: bool, ship: bool) -> None:
    """Build soar-mini for a domain from scratch (deterministic in the seed), with progress."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from soar_kit.mini import build_or_load
    from soar_kit.mini.build import ship as ship_build
    from soar_kit.mini.corpus import MiniRecipe

    domain = get_manager().domain(domain_name)
    world = domain.mini_world()
    # the world may set the step count; build_or_load names a domain without a world
    steps = MiniRecipe().resolve(world).steps if world is not None else None
    with Progress(
        TextColumn("[bold]soar-mini[/] pretraining"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps, loss {task.fields[loss]:.3f}"),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("build", total=steps, loss=float("nan"))
        build = build_or_load(
            domain,
            seed=seed,
            force=force,
            on_step=lambda step, loss: progress.update(task, completed=step, loss=loss),
        )
    meta = build.meta
    how = "built now" if build.built else "already built"
    console.print(
        f"soar-mini for {domain_name} ({how}): {meta['params']:,} parameters, "
        f"{meta['pretrain']['cpu_seconds']:.0f} CPU-s of pretraining, final loss "
        f"{meta['pretrain']['final_loss']:.3f}\n  {escape(str(build.path))}"
    )
    if ship:
        console.print(f"shipped: {escape(str(ship_build(build)))}")


@cli.group("bench")
def bench_group() -> None:
    """Benchmarks that reproduce the paper's comparisons."""


def bench_options(out: Path | None) -> Any:
    """Options shared by the bench commands; ``out`` is the default folder (None: required)."""

    def wrap(fn: Any) -> Any:
        for option in reversed(
            [
                click.option("--domain", "domain_name", default="math", show_default=True),
                click.option(
                    "--quick", is_flag=True, help="Tiny sizes: checks the machinery in minutes."
                ),
                click.option("--seeds", type=int, help="Seeds (default 4; 1 with --quick)."),
                click.option(
                    "--out",
                    type=click.Path(file_okay=False, path_type=Path),
                    default=out,
                    required=out is None,
                    show_default=out is not None,
                    help="Result folder (resumable: finished seeds and runs are reused).",
                ),
                click.option(
                    "--set",
                    "overrides",
                    multiple=True,
                    metavar="KEY=VALUE",
                    help="Config override for every run, e.g. --set "
                    "domain.options.answers=solver (repeatable).",
                ),
                click.option(
                    "--jobs",
                    type=click.IntRange(min=1),
                    default=None,
                    help="Seeds run at once, each in its own process (default: one per CPU core).",
                ),
            ]
        ):
            fn = option(fn)
        return fn

    return wrap


def _bench(
    domain_name: str,
    quick: bool,
    seeds: int | None,
    out: Path,
    sets: tuple[str, ...],
    jobs: int | None,
    *,
    config_file: Path | None = None,
    size_items: tuple[str, ...] = (),
    config_teacher_lr: bool = False,
) -> None:
    """Both bench commands: the sizes (quick, ``--size``, ``--seeds``), then the bench."""
    from dataclasses import replace

    from soar_kit.commands.bench import BenchSize, bench_soar_mini, size_with

    size = BenchSize.quick() if quick else BenchSize()
    if config_teacher_lr:
        size = replace(size, teacher_lr=None)
    size = size_with(size, size_items)
    if seeds is not None:
        size = replace(size, seeds=seeds)
    get_manager().domain(domain_name)
    bench_soar_mini(
        out,
        domain=domain_name,
        size=size,
        console=console,
        sets=sets,
        jobs=jobs or os.cpu_count() or 1,
        config_file=config_file,
    )


@bench_group.command("soar-mini")
@bench_options(Path("benchmarks/results/soar_mini"))
def bench_soar_mini_cmd(
    domain_name: str,
    quick: bool,
    seeds: int | None,
    out: Path,
    overrides: tuple[str, ...],
    jobs: int | None,
) -> None:
    """Base, Hard-Only, Base-T, Intrinsic-T, Grounded-T, PS and PQ on the soar-mini model.

    Writes OUT/result.json, OUT/result.png and every run directory under OUT/runs.
    """
    _bench(domain_name, quick, seeds, out, overrides, jobs)


@bench_group.command("run")
@bench_options(None)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A run configuration or a shipped preset (e.g. smollm2-cpu): model, prompts, lr.",
)
@click.option("--model", help="Model source or folder (sets model.name over the config).")
@click.option(
    "--size",
    "size_items",
    multiple=True,
    metavar="KEY=VALUE",
    help="A bench size (inner_steps, outer_steps, g, n, questions, train_steps, samples, k, "
    "hard_candidates, teacher_lr=config, ...); repeatable.",
)
def bench_run_cmd(
    domain_name: str,
    quick: bool,
    seeds: int | None,
    out: Path,
    overrides: tuple[str, ...],
    jobs: int | None,
    config_file: Path | None,
    model: str | None,
    size_items: tuple[str, ...],
) -> None:
    """The seven methods on any model, domain and problem set (the config's hard set).

    The bench's sizes win over the config's meta and RL step counts; the config's teacher lr is
    kept (soar-mini's bench sets its own). Writes OUT/result.json, .md, .png and OUT/runs.
    """
    sets = ((f"model.name={model}",) if model else ()) + overrides
    line, warn = config_origin(config_file, model or build_config(config_file, ()).model.name)
    console.print(f"[yellow]{escape(line)}[/]" if warn else escape(line))
    _bench(
        domain_name,
        quick,
        seeds,
        out,
        sets,
        jobs,
        config_file=config_file,
        size_items=size_items,
        config_teacher_lr=True,
    )


def main(argv: list[str] | None = None) -> None:
    """Console-script entry: load plugin commands, then run click."""
    manager = get_manager()
    manager.call_plugin_hook("soarkit_register_commands", cli=cli)
    try:
        cli.main(args=argv, prog_name="soarkit")
    except SoarKitError as exc:  # raised outside a command (e.g. while parsing)
        fail(str(exc))


__all__ = ["LOAD_ENV", "cli", "main"]


if __name__ == "__main__":
    main()
