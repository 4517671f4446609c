"""Experiments: declarative sweeps of workflow runs, tidy results, seed statistics and plots.

::

    from motools.experiments import run_sweep_sync, collate, summarise, plot_metric

    sweep = run_sweep_sync(
        "train_and_evaluate",
        base_config,
        grid={"submit_training.hyperparameters.learning_rate": [1e-5, 1e-4], "seed": [0, 1, 2]},
        max_parallel=8,
        quotas={"openai": 3},
    )
    df = collate(sweep)                       # one row per (member, task, scorer, metric, seed)
    samples = collate_samples(sweep)          # one row per scored sample
    table = summarise(df, samples=samples)    # mean, 95% interval over seeds, n seeds/samples
    compare(df, baseline={"learning_rate": 1e-5}, treatment={"learning_rate": 1e-4})
    plot_metric(df, metric="accuracy", x="learning_rate", out="lr.png")

The same from YAML: ``motools sweep run SWEEP.yaml`` / ``status`` / ``results`` / ``plot``.
Names are imported lazily so ``import motools.experiments`` stays light.
"""

from __future__ import annotations

from motools._lazy import lazy_exports

_LAZY = {
    "SweepSpec": "motools.experiments.spec",
    "Member": "motools.experiments.spec",
    "load_sweep": "motools.experiments.spec",
    "run_sweep": "motools.experiments.sweep",
    "run_sweep_sync": "motools.experiments.sweep",
    "SweepResult": "motools.experiments.sweep",
    "MemberResult": "motools.experiments.sweep",
    "Manifest": "motools.experiments.manifest",
    "load_manifest": "motools.experiments.manifest",
    "collate": "motools.experiments.tidy",
    "summarise": "motools.experiments.tidy",
    "collate_samples": "motools.experiments.tidy",
    "compare": "motools.experiments.tidy",
    "references": "motools.experiments.tidy",
    "seed_interval": "motools.experiments.stats",
    "cluster_bootstrap": "motools.experiments.stats",
    "ProtocolWarning": "motools.experiments.tidy",
    "protocol_warnings": "motools.experiments.tidy",
    "Interval": "motools.experiments.stats",
    "mean_ci": "motools.experiments.stats",
    "t_interval": "motools.experiments.stats",
    "t_quantile": "motools.experiments.stats",
    "wilson_interval": "motools.experiments.stats",
    "pooled_wilson": "motools.experiments.stats",
    "bootstrap_interval": "motools.experiments.stats",
    "plot_metric": "motools.experiments.plots",
    "ProviderQuotas": "motools.experiments.quotas",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports("motools.experiments", _LAZY, globals())
