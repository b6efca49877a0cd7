"""The ``ray`` executor on a local 2-CPU Ray instance, against the in-process ``local`` executor.

Real pieces only: a small soar-mini model pretrained on the math mini world (built once per
test session into a temporary SOARKIT_CACHE), the real RLOO trainer, the real math verifier and
real Ray actors. "Same seeds, same results" compares every job's accuracy *and* its per-step
training rewards, which are non-zero for this model, so the comparison can fail.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

pytestmark = pytest.mark.ray
ray = pytest.importorskip("ray", reason="ray not installed (pip install 'soar-kit[ray]')")
torch = pytest.importorskip("torch")

from soar_kit.config import RunConfig  # noqa: E402
from soar_kit.contracts.executor import InnerContext, StudentJob  # noqa: E402
from soar_kit.errors import ConfigError  # noqa: E402
from soar_kit.hardset import candidate_problems  # noqa: E402
from soar_kit.plugins import get_manager  # noqa: E402

RL = {
    "steps": 3,
    "batch_size": 4,
    "group_size": 4,
    "lr": 1e-3,
    "sampling": {"max_new_tokens": 112},
}


@pytest.fixture(scope="module")
def ray_instance():
    if ray.is_initialized():
        ray.shutdown()
    from soarkit_plugins.ray_executor import init_local_ray

    init_local_ray(num_cpus=2)  # workers at normal priority (see init_local_ray)
    yield
    ray.shutdown()


@pytest.fixture
def one_thread():
    # workers run with cpus_per_worker=1 thread; bit-identical floats need the same here
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def make_ctx(model_dir: Path, **options: object) -> InnerContext:
    """One outer step's context: 2 datasets of mini-world problems, Q_R at the hard level."""
    from soar_kit.contracts.model import Policy
    from soar_kit.lm.weights import load_causal_lm, snapshot_state

    executor = {"name": "ray", "options": {"num_workers": 2, "cpus_per_worker": 1, **options}}
    config = RunConfig.model_validate(
        {
            "seed": 3,
            "model": {"device": "cpu"},
            "student": {"rl": RL},
            "executor": executor,
        }
    )
    manager = get_manager()
    domain = manager.domain("math")
    model, tokenizer = load_causal_lm(model_dir, device="cpu")
    student = Policy(model=model, tokenizer=tokenizer, spec=str(model_dir))
    return InnerContext(
        config=config,
        step=0,
        qr=candidate_problems(domain, "mini:hard", seed=1, size=6),
        domain=domain,
        trainer=manager.get("trainer", "rloo"),
        backend=manager.get("backend", "transformers"),
        student=student,
        baseline_state=snapshot_state(model),
        model_dir=model_dir,
    )


def make_jobs(ctx: InnerContext, r: int = 2) -> list[StudentJob]:
    """g=2 datasets (an easy and a middle mini-world level) x r students, distinct seeds."""
    sets = [
        candidate_problems(ctx.domain, f"mini:{level}", seed=10 + level, size=8) for level in (1, 2)
    ]
    return [
        StudentJob(dataset=k, student=i, problems=tuple(ps), seed=100 * k + i)
        for k, ps in enumerate(sets)
        for i in range(r)
    ]


@pytest.fixture(scope="module")
def local_results(model_dir):
    """The reference: every job trained one after another in this process (local executor)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ctx = make_ctx(model_dir)
        results = get_manager().get("executor", "local").train_students(ctx, make_jobs(ctx))
    finally:
        torch.set_num_threads(old)
    return results


def _kill_once(victim: int):
    """An ``on_done`` callback that kills ``victim`` when the first of 4 jobs on 2 workers is
    done. Jobs are still pending then, so both workers are asked for at least one more answer:
    the victim's death is seen whichever worker it is and however fast the jobs run."""
    killed: list[int] = []

    def on_done(job: object, result: object) -> None:
        if not killed:
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    return on_done


def ray_executor():
    from soarkit_plugins.ray_executor import RayExecutor

    return RayExecutor()


def test_same_seeds_same_results_local_and_ray(model_dir, ray_instance, local_results, one_thread):
    rewards = [x for r in local_results for x in r.train_rewards]
    assert len(rewards) == 4 * RL["steps"]
    assert any(x > 0 for x in rewards), "the model never earns a reward: comparison is vacuous"
    # different seeds/datasets give different training curves: equality below is not trivial
    assert len({r.train_rewards for r in local_results}) > 1

    ctx = make_ctx(model_dir)
    jobs = make_jobs(ctx)
    executor = ray_executor()
    done: list[int] = []
    try:
        got = executor.train_students(
            ctx, jobs, on_done=lambda job, res: done.append(jobs.index(job))
        )
        assert got == local_results  # accuracies and per-step rewards, exactly, in job order
        assert sorted(done) == list(range(len(jobs)))
        assert executor.retries == 0
        pids = executor.worker_pids()
        assert len(set(pids)) == 2 and os.getpid() not in pids  # really two other processes

        # a second step with the same baseline reuses the workers and the shipped weights
        again = executor.train_students(ctx, jobs[:2])
        assert again == local_results[:2]
        assert executor.worker_pids() == pids
    finally:
        executor.close()
    assert ray.is_initialized()  # the executor did not start Ray, so it leaves it running


def test_killed_worker_is_retried_with_same_results(
    model_dir, ray_instance, local_results, one_thread
):
    ctx = make_ctx(model_dir, max_retries=2)
    jobs = make_jobs(ctx)
    executor = ray_executor()
    try:
        executor.train_students(ctx, jobs[:1])  # start the pool
        victim = executor.worker_pids()[0]
        results = executor.train_students(ctx, jobs, on_done=_kill_once(victim))
        assert executor.retries >= 1
        assert results == local_results
        assert victim not in executor.worker_pids()
    finally:
        executor.close()


def test_worker_deaths_beyond_max_retries_fail_clearly(model_dir, ray_instance, one_thread):
    from soarkit_plugins.ray_executor import RayExecutorError

    ctx = make_ctx(model_dir, max_retries=0)
    jobs = make_jobs(ctx)
    executor = ray_executor()
    try:
        executor.train_students(ctx, jobs[:1])
        victim = executor.worker_pids()[0]
        with pytest.raises(RayExecutorError) as info:
            executor.train_students(ctx, jobs, on_done=_kill_once(victim))
        message = str(info.value)
        assert "outer step 0, dataset" in message and "died 1 time" in message
        assert "--resume" in message
        # the executor recovers: the next step builds a fresh pool and gives the right numbers
        assert executor.train_students(ctx, jobs[:1])[0].train_rewards
    finally:
        executor.close()


def test_bad_options_fail_before_any_work(model_dir, ray_instance):
    executor = ray_executor()
    ctx = make_ctx(model_dir, gpus_per_worker=0)
    ctx.config.executor.options["num_worker"] = 2  # typo
    with pytest.raises(ConfigError, match=r"unknown option.*num_worker"):
        executor.train_students(ctx, make_jobs(ctx))
    from soarkit_plugins.ray_executor import RayExecutorError

    ctx = make_ctx(model_dir, num_workers=3)  # 3 x 1 CPU on a 2-CPU instance
    with pytest.raises(RayExecutorError, match="do not fit the cluster"):
        executor.train_students(ctx, make_jobs(ctx))
    ctx = make_ctx(model_dir, gpus_per_worker=1)
    with pytest.raises(RayExecutorError, match="0 GPU in all"):
        executor.train_students(ctx, make_jobs(ctx))
    executor.close()


def test_registered_and_available():
    executor = get_manager().get("executor", "ray")
    assert executor.needs_model_dir
    assert executor.available() is None  # ray is importable here (the module was not skipped)


def same_tensors(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_lora_students_on_ray_match_local_and_ship_the_base_once_per_promotion(
    model_dir, ray_instance, one_thread
):
    """student.mode=lora: workers wrap their model with the same adapters, train them and send
    them back; the same seeds give the same rewards and the same adapter tensors as in this
    process. The weights travel once per baseline: a new Q_R alone ships no weights, a
    promotion (a new base) ships them once more, and the numbers follow the new base."""
    from soar_kit.students import StudentPool

    ctx = make_ctx(model_dir)
    ctx.config.student.mode = "lora"
    pool = StudentPool(ctx.student, mode="lora", lora=ctx.config.student.lora, lora_seed=3)

    def point(c: InnerContext) -> InnerContext:
        c.student, c.baseline_state, c.base_state = pool.baseline(), pool.snapshot, None
        return c

    jobs = make_jobs(ctx, r=1)
    local = get_manager().get("executor", "local")
    here = local.train_students(point(ctx), jobs)
    assert all(r.state for r in here) and any(x > 0 for r in here for x in r.train_rewards)

    executor = ray_executor()
    try:
        ctx.base_state = pool.base_weights()
        there = executor.train_students(ctx, jobs)
        assert there == here
        for a, b in zip(here, there, strict=True):
            same_tensors(a.state, b.state)
        ctx.qr = ctx.qr[:3]  # the next outer step: a new Q_R, the same baseline
        executor.train_students(ctx, jobs[:1])
        assert executor.weight_puts == 1

        # a promotion merges adapters into the base: the level-2 student's, which moved (the
        # level-1 problems are all solved, so their groups can give no gradient at all)
        assert any(v.abs().sum() > 0 for k, v in here[1].state.items() if "lora_B" in k)
        pool.promote(here[1].state)
        local_after = local.train_students(point(ctx), jobs[1:])
        ctx.base_state = pool.base_weights()
        after = executor.train_students(ctx, jobs[1:])
        assert after == local_after
        assert executor.weight_puts == 2
        same_tensors(after[0].state, local_after[0].state)
        # the new base made a difference (trained adapters are continuous; rewards may not be)
        assert any(
            not torch.equal(v, here[1].state[k]) for k, v in local_after[0].state.items()
        )
    finally:
        executor.close()
