"""Training recipes: the optimizer settings each architecture trains well with, per task kind.

Every backbone class may carry a `recipe`: task kind ("lm", "classification", "seq2seq", "mlm") -> optimizer settings
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

from kerasllm.models.plugins import backbone_class, knows_arch

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


#: Task kind -> the kind whose recipe it takes when an architecture gives none for it: a masked language model
#: trains with its architecture's language-model settings. Measured for the one unusual case, the recurrent SGD at
#: 20 (sst2 --objective mlm, bidirectional lstm of width 32, 240 steps of 16 x 32 tokens): masked-token perplexity
#: 665 on validation, against 1118 with AdamW at 3e-3 (its classification recipe), which stays near the unigram.
BORROWED_RECIPES = {"mlm": "lm"}


def recipe_of(arch, task_kind):
    """The recipe of `arch` (a registered name, an import path or `hub:...`) on tasks of `task_kind`: `DEFAULT_RECIPE`
    updated with `recipe[task_kind]` of the backbone it runs as (`backbone_class`: a student's cell gets the
    recipe of the rnn it runs in), or, if it has none for that kind, with the recipe of the kind
    `BORROWED_RECIPES` names. A name that is no backbone (a baseline such as tfidf_lr) gets the default."""
    if not knows_arch(arch):
        return dict(DEFAULT_RECIPE)
    recipes = backbone_class(arch).recipe
    own = recipes.get(task_kind)
    return {**DEFAULT_RECIPE, **(own if own is not None else recipes.get(BORROWED_RECIPES.get(task_kind), {}))}


def with_recipe(config, task_kind):
    """`config` with every recipe setting it leaves at None set from its architecture's recipe for
    `task_kind` (the kind of `config.task`)."""
    recipe = recipe_of(config.arch, task_kind)
    missing = {key: value for key, value in recipe.items() if getattr(config, key) is None}
    return config.replace(**missing) if missing else config
