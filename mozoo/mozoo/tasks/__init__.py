"""Inspect tasks of the zoo (``@task`` functions), each following its paper's protocol.

Import a task from its own module (``mozoo.tasks.emergent_misalignment``); this package
imports nothing so that naming one task does not load the others.
"""
