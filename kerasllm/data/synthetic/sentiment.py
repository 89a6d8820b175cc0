"""A templated sentiment task where only word order (the scope of a negation) decides the label."""

import dataclasses

from kerasllm.data.base import Split, TaskInfo, register_task
from kerasllm.data.synthetic.base import WORD_TOKENIZER_OPTIONS, GeneratedTask, check_positive

POSITIVE = (
    "good", "great", "excellent", "wonderful", "brilliant", "delightful", "charming", "superb",
    "enjoyable", "fantastic", "lovely", "moving", "clever", "beautiful", "fun", "gripping",
    "impressive", "pleasant", "remarkable", "fresh",
)
NEGATIVE = (
    "bad", "awful", "terrible", "boring", "dull", "horrible", "dreadful", "tedious", "bland", "clumsy",
    "poor", "weak", "mediocre", "messy", "lame", "painful", "stale", "forgettable", "silly", "annoying",
)
SUBJECTS = (
    "the film", "the movie", "this book", "the play", "the show", "the album", "the story", "the meal",
    "the concert", "the game", "this novel", "the series",
)
# An optional word in front of each adjective; drawn independently for both slots.
INTENSIFIERS = ("", "very", "really", "truly", "quite")
# The negation cue of every template comes before the adjective it negates, and the first adjective
# after a cue is always the negated one ({neg}); {pos} is the asserted one, which sets the label.
TEMPLATES = (
    "{s} was not {neg} , it was {pos}",
    "{s} was {pos} , not {neg}",
    "i would call {s} {pos} rather than {neg}",
    "{s} is n't {neg} at all , just {pos}",
    "{s} is never {neg} ; it is {pos}",
    "{s} was hardly {neg} , it was {pos}",
    "{s} seemed {pos} instead of {neg}",
    "i did not think {s} was {neg} ; i thought it was {pos}",
    "{s} was {pos} and not {neg}",
    "nobody would say {s} is {neg} , but it is {pos}",
)
NEGATION_CUES = ("not", "n't", "never", "hardly", "than", "instead", "nobody")


@register_task("negation_sentiment")
class NegationSentiment(GeneratedTask):
    """Sentiment that only word order reveals: a bag of words is at chance, a sequence model is not.

    Every sentence holds one positive and one negative adjective, one of them negated
    ("the film was not dull , it was gripping"). The label is the polarity of the adjective that is
    not negated (1 = positive). The template, subject, intensifiers and the two adjectives are drawn
    independently of the label; the label only decides which adjective sits in the negated slot. So
    swapping the two adjectives flips the label while the multiset of words stays the same: the bag
    of words carries no information about the label. 10 templates (negation before or after the
    asserted adjective), 12 subjects, 20 + 20 adjectives, optional intensifiers.

    Args:
        data_dir: ignored. Defaults to None.
        seed: generation seed. Defaults to 0.
        num_train: training sentences. Defaults to 5000.
        num_validation: validation sentences. Defaults to 1000.
        num_test: test sentences. Defaults to 1000.
        max_length: default sequence length in words (the longest sentence has 16). Defaults to 32.

    Example:
    >>> task = NegationSentiment(num_train=3, seed=1)
    >>> split = task.split("train")
    >>> len(split.texts), set(split.labels) <= {0, 1}
    (3, True)
    """

    info = TaskInfo(
        name="negation_sentiment",
        kind="classification",
        metric="accuracy",
        num_classes=2,
        tokenizer="word",
        tokenizer_options=WORD_TOKENIZER_OPTIONS,
        max_length=32,
        class_names=("negative", "positive"),
        notes="Generated. Each sentence has one positive and one negative adjective, one of them negated; "
        "label = polarity of the non-negated one. Bag of words is uninformative by construction.",
    )

    def __init__(
        self, data_dir=None, seed=0, num_train=5000, num_validation=1000, num_test=1000, max_length=32
    ):
        super().__init__(data_dir, seed, num_train, num_validation, num_test)
        self.info = dataclasses.replace(self.info, max_length=check_positive("max_length", max_length))

    def _generate(self, rng, count):
        template = rng.integers(len(TEMPLATES), size=count)
        subject = rng.integers(len(SUBJECTS), size=count)
        positive = rng.integers(len(POSITIVE), size=count)
        negative = rng.integers(len(NEGATIVE), size=count)
        intensifier = rng.integers(len(INTENSIFIERS), size=(count, 2))
        labels = rng.integers(2, size=count)
        texts = []
        for i in range(count):
            words = (POSITIVE[positive[i]], NEGATIVE[negative[i]])
            # label 1: the positive adjective is asserted and the negative one negated; label 0: swapped.
            asserted, negated = words if labels[i] == 1 else words[::-1]
            first, second = (INTENSIFIERS[k] for k in intensifier[i])
            text = TEMPLATES[template[i]].format(
                s=SUBJECTS[subject[i]], pos=f"{first} {asserted}", neg=f"{second} {negated}"
            )
            texts.append(" ".join(text.split()))
        return Split(texts=texts, labels=labels.tolist())


def rule_based_label(text):
    """The label a reader of word order gives: the first adjective after a negation cue is negated.

    Used by the tests to show the labels are well defined.

    Example:
    >>> rule_based_label("the film was not dull , it was gripping")
    1
    """
    negate_next = False
    for word in text.split():
        if word in NEGATION_CUES:
            negate_next = True
        elif word in POSITIVE or word in NEGATIVE:
            if not negate_next:
                return int(word in POSITIVE)
            negate_next = False
    raise ValueError(f"No asserted adjective in '{text}'.")
