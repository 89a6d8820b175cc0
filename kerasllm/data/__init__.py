"""Tasks (built-in generated and real datasets) and the tf.data pipeline."""

from kerasllm.data.base import Split, Task, TaskInfo, get_task, list_tasks, register_task
from kerasllm.data import synthetic, datasets  # noqa: F401  (registers the built-in tasks)

__all__ = ["Split", "Task", "TaskInfo", "get_task", "list_tasks", "register_task"]
