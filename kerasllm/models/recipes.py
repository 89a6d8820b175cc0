"""Training recipes: the optimizer settings each architecture trains well with, per task kind.

Every backbone class may carry a `recipe`: task kind ("lm", "classification", "seq2seq") -> optimizer settings
that override `DEFAULT_RECIPE` for that architecture on tasks of that kind (docs/benchmarks.md, "Training
recipes", has the measurements behind each). A config leaves these settings at None to take the recipe, or
sets them to override it; `with_recipe` fills them in, and the filled-in config is what a run records in
config.json, so a run always says which settings trained it.

Example:
>>> from kerasllm.config import TrainConfig
>>> config = with_recipe(TrainConfig(task="ptb", arch="lstm"), task_kind="lm")
>>> config.optimizer, config.learning_rate
('sgd', 20.0)
>>> with_recipe(TrainConfig(task="ptb", arch="lstm", learning_rate=0.5), task_kind="lm").learning_rate
0.5
>>> with_recipe(TrainConfig(task="sst2", arch="lstm"), task_kind="classification").optimizer
'adamw'
"""

from kerasllm.imports import is_import_path
from kerasllm.models.backbone import BACKBONES
from kerasllm.models.plugins import backbone_class

#: The settings a recipe decides, and their values for an architecture without a recipe of its own:
#: AdamW with linear warm-up, cosine decay to a tenth of the peak and global gradient clipping.
DEFAULT_RECIPE = {
    "optimizer": "adamw",
    "learning_rate": 1e-3,
    "weight_decay": 0.01,
    "warmup_ratio": 0.05,
    "min_lr_ratio": 0.1,
    "clipnorm": 1.0,
}


def recipe_of(arch, task_kind):
    """The recipe of `arch` (a registered name or an import path) on tasks of `task_kind`: `DEFAULT_RECIPE`
    updated with `recipe[task_kind]` of the backbone it runs as (`backbone_class`: a student's cell gets the
    recipe of the rnn it runs in). A name that is no backbone (a baseline such as tfidf_lr) gets the default."""
    if not is_import_path(arch) and arch not in BACKBONES.names():
        return dict(DEFAULT_RECIPE)
    return {**DEFAULT_RECIPE, **backbone_class(arch).recipe.get(task_kind, {})}


def with_recipe(config, task_kind):
    """`config` with every recipe setting it leaves at None set from its architecture's recipe for
    `task_kind` (the kind of `config.task`)."""
    recipe = recipe_of(config.arch, task_kind)
    missing = {key: value for key, value in recipe.items() if getattr(config, key) is None}
    return config.replace(**missing) if missing else config
