"""Built-in executor ``ray``: the g*r inner trainings of an outer step on Ray actors.

Why actors rather than plain tasks: building a student (reading the model folder, moving it to
a GPU, importing torch/transformers and the domain plugin) costs far more than resetting one,
so each worker is a long-lived actor that holds one student model and is reused for every job
of every step. The driver puts the baseline weights into the object store **once per
baseline** (at the start and after each promotion), apart from the small per-step payload (Q_R,
config); a worker fetches the weights on its first job after they changed and keeps them, so
the object store moves one copy of the weights per worker and promotion, not one per job or
step. LoRA students (``student.mode = "lora"``): workers wrap their model with the same
adapters, receive the fresh adapters and the frozen base the same way, and send each trained
student's adapters back with its accuracy.

Workers rebuild the domain, trainer and generation backend *by name* from the run
configuration through the plugin manager (objects such as a code sandbox are not picklable, and
rebuilding keeps workers independent of the driver's process state). Custom objects passed in
an :class:`~soar_kit.contracts.executor.InnerContext` that are not registered plugins therefore cannot
run on Ray: register them.

Determinism: a job is (baseline, dataset, seed); the trainer is deterministic in its seed, so a
worker computes what the driver would. Bit-identical numbers also need the same device, dtype
and torch thread count: workers run ``torch.set_num_threads(cpus_per_worker)``.

Faults: a worker that dies (killed, out of memory, node lost) has its job re-run from the
baseline on a fresh worker, at most ``max_retries`` times per job; an error raised by the job
itself (a bug, a bad config) is not retried. Either way the failure names the job and the step
fails with :class:`RayExecutorError` *before* the step's commit, so ``soarkit run --resume``
repeats that step from its start.

``import ray`` happens only inside methods: the CLI imports every plugin module at start-up.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from soar_kit import hookimpl
from soar_kit.contracts.executor import Executor, InnerContext, OnDone, StudentJob, StudentResult
from soar_kit.errors import ConfigError, SoarKitError
from soar_kit.students import train_student

#: Options read from ``executor.options`` (``--set executor.options.KEY=VALUE``).
OPTIONS: dict[str, str] = {
    "address": "Ray cluster address, e.g. 'ray://head:10001' or 'auto'; default: a Ray instance "
    "already started in this process, else a new local one",
    "num_workers": "student actors (default: as many as the cluster's free CPUs/GPUs allow, at "
    "most the number of jobs of a step)",
    "cpus_per_worker": "CPUs per actor, also its torch thread count (default 1)",
    "gpus_per_worker": "GPUs per actor; fractions pack several students on one GPU (default 0)",
    "max_retries": "times a job is re-run after its worker died (default 2)",
    "job_timeout_s": "a job running longer is treated as a dead worker (default 0 = no limit)",
    "ship_model": "send the model folder through the object store, for nodes that cannot read "
    "it (default: true when an address is given, else false)",
}
#: Largest model folder shipped through the object store (beyond: use shared storage).
_MODEL_FILE_LIMIT = 64 * 2**30


class RayExecutorError(SoarKitError):
    """An outer step's inner trainings could not be completed on Ray."""


class StudentWorker:
    """One Ray actor: a student model built once, reset to the step's baseline for each job.

    Plain class (no ray import) so that this module stays importable without ray; it becomes an
    actor through ``ray.remote(...)(StudentWorker)`` in :class:`RayExecutor`.
    """

    def __init__(
        self, model_dir: str, model_files: list[Any], config: dict[str, Any], threads: int
    ) -> None:
        import torch

        from soar_kit.config import RunConfig
        from soar_kit.contracts.model import Policy
        from soar_kit.lm.weights import load_causal_lm

        torch.set_num_threads(max(1, threads))
        cfg = RunConfig.model_validate(config)
        if cfg.model.malloc_mmap_threshold is not None:
            from soar_kit.machine import fix_mmap_threshold

            fix_mmap_threshold(cfg.model.malloc_mmap_threshold)  # before the model lands
        self._tmp: str | None = None
        path = Path(model_dir)
        if not (path / "config.json").is_file():
            # another node without a shared filesystem: the driver shipped the folder's files
            import ray

            if not model_files:
                raise FileNotFoundError(
                    f"model folder {model_dir} is not readable on this node: put it on shared "
                    "storage or set executor.options.ship_model=true"
                )
            files: dict[str, bytes] = ray.get(model_files[0])
            self._tmp = tempfile.mkdtemp(prefix="soarkit-student-")
            for name, data in files.items():
                (Path(self._tmp) / name).write_bytes(data)
            path = Path(self._tmp)
        model, tokenizer = load_causal_lm(path, dtype=cfg.model.dtype, device=cfg.model.device)
        if cfg.student.mode == "lora":
            from soar_kit.lm.lora import inject_lora

            # the seed does not matter: each step's payload brings the driver's fresh adapters
            model = inject_lora(model, cfg.student.lora, seed=0)
        self.student = Policy(model=model, tokenizer=tokenizer, spec=str(model_dir))
        self._config_key = ""
        self._parts: tuple[Any, ...] = ()
        self._step_seen = -1
        self._weights_key = -1
        self._baseline: dict[str, Any] = {}

    def ready(self) -> int:
        """The worker's process id, once the model is loaded (also used to kill it in tests)."""
        return os.getpid()

    def run(
        self, step: list[Any], job: StudentJob
    ) -> tuple[float, tuple[float, ...], float, dict[str, Any] | None]:
        """Train one job; ``step`` is ``[weights key, weights ref, step key, step ref]`` (a
        list, so that Ray passes the references instead of fetching them for every job). The
        weights change only at a promotion; Q_R and the config come every step."""
        import ray

        from soar_kit.components import domain_for
        from soar_kit.config import RunConfig
        from soar_kit.plugins import get_manager

        weights_key, weights_ref, key, ref = step
        if weights_key != self._weights_key:
            weights = ray.get(weights_ref)
            self._baseline = weights["baseline"]
            if weights["base"] is not None:  # LoRA: the frozen base the adapters sit on
                from soar_kit.lm.lora import load_base_state

                load_base_state(self.student.model, weights["base"])
            self._weights_key = weights_key
        if key != self._step_seen:
            payload = ray.get(ref)
            self._qr = payload["qr"]
            if payload["config"] != self._config_key:
                cfg = RunConfig.model_validate(json.loads(payload["config"]))
                manager = get_manager()
                domain = manager.domain(cfg.domain.name).with_options(cfg.domain.options)
                domain = domain_for(cfg, domain, self.student)  # the driver's rendering
                trainer = manager.get("trainer", cfg.student.trainer)
                backend = manager.get("backend", cfg.backend.name).with_options(cfg.backend.options)
                self._parts = (cfg, domain, trainer, backend)
                self._config_key = payload["config"]
            self._step_seen = key
        cfg, domain, trainer, backend = self._parts
        start = time.perf_counter()
        result = train_student(
            job,
            config=cfg,
            domain=domain,
            trainer=trainer,
            backend=backend,
            student=self.student,
            baseline_state=self._baseline,
            qr=self._qr,
        )
        return result.accuracy, result.train_rewards, time.perf_counter() - start, result.state

    def __del__(self) -> None:
        if getattr(self, "_tmp", None):
            shutil.rmtree(self._tmp, ignore_errors=True)  # type: ignore[arg-type]


class RayExecutor(Executor):
    """Inner trainings on a pool of Ray actors; see the module docstring for the design."""

    name: ClassVar[str] = "ray"
    description: ClassVar[str] = (
        "inner student trainings on Ray actors (local instance or --ray-address cluster)"
    )
    needs_model_dir: ClassVar[bool] = True

    def __init__(self) -> None:
        self._workers: list[Any] = []
        self._worker_options: dict[str, Any] = {}
        self._pool_key: tuple[Any, ...] | None = None
        self._started_ray = False
        self._step_key = 0
        self._step_ref: Any = None
        self._step_source: tuple[Any, ...] = ()
        self._weights_key = 0
        self._weights_ref: Any = None
        self._weights_source: tuple[Any, ...] = ()
        #: Times baseline weights went into the object store (once per promotion, not per step).
        self.weight_puts = 0
        #: Jobs re-run after a worker died, over this executor's life (for tests and logs).
        self.retries = 0
        #: Seconds each job of the last step took inside its worker, in job order.
        self.job_seconds: list[float] = []

    # -- contract ----------------------------------------------------------------------------------
    def available(self) -> str | None:
        if importlib.util.find_spec("ray") is None:
            return "ray is not installed (pip install 'soar-kit[ray]')"
        return None

    def train_students(
        self, ctx: InnerContext, jobs: Sequence[StudentJob], on_done: OnDone | None = None
    ) -> list[StudentResult]:
        import ray

        if not jobs:
            return []
        opts = self._options(ctx)
        self._ensure_pool(ctx, opts, len(jobs))
        step = self._put_step(ctx)
        results: list[StudentResult | None] = [None] * len(jobs)
        seconds = [0.0] * len(jobs)
        attempts = [0] * len(jobs)
        pending = deque(range(len(jobs)))
        idle = deque(range(len(self._workers)))
        running: dict[Any, tuple[int, int, float]] = {}  # ref -> (job, worker slot, started)
        timeout = float(opts["job_timeout_s"]) or None
        while pending or running:
            while pending and idle:
                i, slot = pending.popleft(), idle.popleft()
                ref = self._workers[slot].run.remote(step, jobs[i])
                running[ref] = (i, slot, time.monotonic())
            done, _ = ray.wait(list(running), num_returns=1, timeout=timeout)
            now = time.monotonic()
            overdue = [r for r, (_, _, t) in running.items() if timeout and now - t > timeout]
            for ref in dict.fromkeys([*done, *overdue]):
                i, slot, _started = running.pop(ref)
                try:
                    if ref not in done:
                        raise TimeoutError(f"over executor.options.job_timeout_s={timeout:g}")
                    acc, rewards, secs, trained = ray.get(ref)
                except Exception as exc:
                    if not _is_worker_death(exc):
                        self._stop_workers()
                        raise RayExecutorError(
                            f"{_describe(ctx, jobs[i])} failed in its Ray worker: {_last_line(exc)}"
                        ) from exc
                    attempts[i] += 1
                    self.retries += 1
                    if attempts[i] > int(opts["max_retries"]):
                        self._stop_workers()
                        raise RayExecutorError(
                            f"{_describe(ctx, jobs[i])}: its Ray worker died {attempts[i]} "
                            f"time(s) (executor.options.max_retries={opts['max_retries']}); "
                            f"last cause: {_last_line(exc)}. The step was not committed; "
                            "`soarkit run --run-dir DIR --resume` repeats it."
                        ) from exc
                    logging.getLogger(__name__).warning(
                        "%s: worker died (%s), retrying on a fresh worker (%d/%s)",
                        _describe(ctx, jobs[i]),
                        _last_line(exc),
                        attempts[i],
                        opts["max_retries"],
                    )
                    self._replace_worker(slot)
                    pending.appendleft(i)
                    idle.append(slot)
                    continue
                results[i] = StudentResult(
                    None if acc is None else float(acc), tuple(rewards), state=trained
                )
                seconds[i] = float(secs)
                idle.append(slot)
                if on_done:
                    on_done(jobs[i], results[i])  # type: ignore[arg-type]
        self.job_seconds = seconds
        return [r for r in results if r is not None]

    def close(self) -> None:
        """Kill the actors; shut Ray down only if this executor started it."""
        self._stop_workers()
        self._step_ref = None
        self._step_source = ()
        self._weights_ref = None
        self._weights_source = ()
        if self._started_ray:
            import ray

            ray.shutdown()
            self._started_ray = False

    # -- workers -------------------------------------------------------------------------------------
    def worker_pids(self) -> list[int]:
        """Process ids of the live actors (same machine only; used by the fault tests)."""
        import ray

        return list(ray.get([w.ready.remote() for w in self._workers]))

    def _options(self, ctx: InnerContext) -> dict[str, Any]:
        raw = dict(ctx.config.executor.options)
        unknown = sorted(set(raw) - set(OPTIONS))
        if unknown:
            raise ConfigError(
                f"executor.options: unknown option(s) {', '.join(unknown)} for executor 'ray' "
                f"(known: {', '.join(OPTIONS)})"
            )
        opts: dict[str, Any] = {
            "address": None,
            "num_workers": 0,
            "cpus_per_worker": 1,
            "gpus_per_worker": 0,
            "max_retries": 2,
            "job_timeout_s": 0,
            **raw,
        }
        if "ship_model" not in raw:
            opts["ship_model"] = bool(opts["address"])
        for key in ("num_workers", "cpus_per_worker", "gpus_per_worker", "max_retries"):
            value = opts[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ConfigError(f"executor.options.{key}: expected a number >= 0, got {value!r}")
        if opts["cpus_per_worker"] <= 0 and opts["gpus_per_worker"] <= 0:
            raise ConfigError("executor.options: a worker needs cpus_per_worker or gpus_per_worker")
        return opts

    def _connect(self, address: str | None) -> None:
        import ray

        if ray.is_initialized():
            return
        if address:
            ray.init(address=address, logging_level=logging.WARNING)
        else:
            init_local_ray()
        self._started_ray = True

    def _ensure_pool(self, ctx: InnerContext, opts: dict[str, Any], n_jobs: int) -> None:
        import ray

        if ctx.model_dir is None or not (Path(ctx.model_dir) / "config.json").is_file():
            raise RayExecutorError(
                "executor 'ray' needs InnerContext.model_dir, a saved model folder the workers "
                "build students from (run_soar writes RUN_DIR/model)"
            )
        self._connect(opts["address"])
        config_json = ctx.config.model_dump(mode="json")
        # what a worker's model is built from: the folder, [model], and LoRA or not
        built = {k: config_json["student"][k] for k in ("mode", "lora")}
        key = (str(ctx.model_dir), json.dumps([config_json["model"], built], sort_keys=True))
        key += tuple(sorted((k, str(v)) for k, v in opts.items() if k != "job_timeout_s"))
        if key == self._pool_key and self._workers:
            return
        self._stop_workers()
        total = ray.cluster_resources()
        cpus, gpus = float(opts["cpus_per_worker"]), float(opts["gpus_per_worker"])
        have_cpu, have_gpu = total.get("CPU", 0.0), total.get("GPU", 0.0)
        if cpus > have_cpu or gpus > have_gpu:
            raise RayExecutorError(
                f"a Ray worker asks for {cpus:g} CPU and {gpus:g} GPU, but the cluster has "
                f"{have_cpu:g} CPU and {have_gpu:g} GPU in all"
            )
        fit = min(
            int(have_cpu // cpus) if cpus else 1 << 30,
            int(have_gpu // gpus) if gpus else 1 << 30,
        )
        count = int(opts["num_workers"]) or max(1, min(fit, n_jobs))
        if count > fit:
            raise RayExecutorError(
                f"executor.options.num_workers={count} workers of {cpus:g} CPU/{gpus:g} GPU do "
                f"not fit the cluster ({have_cpu:g} CPU, {have_gpu:g} GPU): at most {fit}"
            )
        shipped = [ray.put(_model_files(Path(ctx.model_dir)))] if opts["ship_model"] else []
        self._worker_options = {
            "num_cpus": cpus,
            "num_gpus": gpus,
            "max_restarts": 0,  # restarts are ours: a dead worker is replaced, its job re-run
        }
        self._worker_args = (str(ctx.model_dir), shipped, config_json, int(cpus) or 1)
        self._workers = [self._new_worker() for _ in range(count)]
        try:
            ray.get([w.ready.remote() for w in self._workers])
        except Exception as exc:
            self._stop_workers()
            raise RayExecutorError(f"Ray workers could not start: {_last_line(exc)}") from exc
        self._pool_key = key

    def _new_worker(self) -> Any:
        import ray

        actor = ray.remote(**self._worker_options)(StudentWorker)
        return actor.remote(*self._worker_args)

    def _replace_worker(self, slot: int) -> None:
        import ray

        try:
            ray.kill(self._workers[slot], no_restart=True)
        except Exception:
            pass  # already gone
        self._workers[slot] = self._new_worker()

    def _stop_workers(self) -> None:
        if not self._workers:
            return
        import ray

        for worker in self._workers:
            try:
                ray.kill(worker, no_restart=True)
            except Exception:
                pass
        self._workers = []
        self._pool_key = None

    def _put_step(self, ctx: InnerContext) -> list[Any]:
        """The step's payloads in the object store, as ``[weights key, weights ref, step key,
        step ref]``: the baseline weights (with LoRA students the fresh adapters and the frozen
        base), and Q_R with the config.

        Each is put again only when it changed: Q_R changes every step, the weights only at a
        promotion (a new snapshot object), so a step without promotion ships a few problems,
        not a model. The keys tell workers whether the copies they hold are still current.
        """
        import ray

        weights = (ctx.baseline_state, ctx.base_state)
        if self._weights_ref is None or any(
            a is not b for a, b in zip(weights, self._weights_source, strict=True)
        ):
            self._weights_ref = ray.put({"baseline": weights[0], "base": weights[1]})
            self._weights_source = weights
            self._weights_key += 1
            self.weight_puts += 1
        config = json.dumps(ctx.config.model_dump(mode="json"), sort_keys=True)
        source = (list(ctx.qr), config)
        if self._step_ref is None or source != self._step_source:
            self._step_ref = ray.put({"qr": source[0], "config": config})
            self._step_source = source
            self._step_key += 1
        return [self._weights_key, self._weights_ref, self._step_key, self._step_ref]


def init_local_ray(**options: Any) -> None:
    """Start a Ray instance on this machine whose workers run at normal priority.

    Ray starts its worker processes at niceness 15 by default, as background work. Here the
    workers *are* the run's main work: beside any other busy process they starved (measured: 2
    busy loops on 2 cores left each student worker about 4 % of a core, and a 30 s test job
    took over 15 min). Niceness 0 gives them their fair share. A cluster reached through
    ``address`` keeps the niceness its operator chose.
    """
    import ray

    ray.init(
        include_dashboard=False,
        logging_level=logging.WARNING,
        _system_config={"worker_niceness": 0},
        **options,
    )


def _is_worker_death(exc: BaseException) -> bool:
    """Whether the job failed because its worker (or node) went away, not because of the job."""
    import ray.exceptions as rex

    if isinstance(exc, TimeoutError):
        return True  # over job_timeout_s: the worker is presumed stuck and is replaced
    retriable = (
        rex.RayActorError,
        rex.WorkerCrashedError,
        rex.ObjectLostError,
        rex.OutOfMemoryError,
        rex.NodeDiedError,
    )
    return isinstance(exc, retriable)


def _model_files(path: Path) -> dict[str, bytes]:
    """The model folder's files, for workers on nodes that cannot read ``path``."""
    files = {p.name: p for p in sorted(path.iterdir()) if p.is_file()}
    size = sum(p.stat().st_size for p in files.values())
    if size > _MODEL_FILE_LIMIT:
        raise RayExecutorError(
            f"model folder {path} holds {size / 2**30:.1f} GiB: put it on storage every node "
            "reads instead of shipping it"
        )
    return {name: p.read_bytes() for name, p in files.items()}


def _describe(ctx: InnerContext, job: StudentJob) -> str:
    return f"outer step {ctx.step}, dataset {job.dataset}, student {job.student} (seed {job.seed})"


def _last_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[-1] if lines else ''}"


@hookimpl
def soarkit_register_executors(register) -> None:  # type: ignore[no-untyped-def]
    register(RayExecutor())
