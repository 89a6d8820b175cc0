"""Tasks (built-in generated and real datasets) and the input pipeline (tf.data on TensorFlow, numpy elsewhere).

Tasks are registered by name in `TASKS` (`@register_task("name")`); importing this package registers the
built-in ones. A task gives raw-text splits and a `TaskInfo` saying how to model and score it.

Example:
>>> import kerasllm as kl
>>> task = kl.data.get_task("mqar", num_train=8, num_validation=4, num_test=4)
>>> task.info.kind, task.info.metric, len(task.split("train"))
('seq2seq', 'token_accuracy', 8)
>>> "sst2" in kl.data.TASKS and kl.data.list_tasks() == kl.data.TASKS.names()
True
"""

from kerasllm.data.base import TASKS, Split, Task, TaskInfo, get_task, list_tasks, register_task
from kerasllm.data import synthetic, datasets  # noqa: F401  (registers the built-in tasks)

__all__ = ["TASKS", "Split", "Task", "TaskInfo", "get_task", "list_tasks", "register_task"]
