"""Whole-pipeline drivers: train -> lower -> sweep -> plots -> report, e.g. the demo
(:func:`plumsim.pipeline.demo.run_demo`). The last stage before the CLI: it may import every stage, no
stage imports it."""
