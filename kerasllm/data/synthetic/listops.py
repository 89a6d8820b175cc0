"""ListOps: the value of a nested list expression (Nangia & Bowman 2018, as in Long Range Arena)."""

import dataclasses
import random

from kerasllm.data.base import Split, TaskInfo, register_task
from kerasllm.data.synthetic.base import WORD_TOKENIZER_OPTIONS, GeneratedTask, check_positive
from kerasllm.errors import ConfigError

OPERATORS = ("[MAX", "[MIN", "[MED", "[SM")
CLOSE = "]"


def _median(values):
    """Median rounded down, as Long Range Arena's `int(np.median(values))` for digits."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) // 2


_APPLY = {
    "[MAX": max,
    "[MIN": min,
    "[MED": _median,
    "[SM": lambda values: sum(values) % 10,
}


def evaluate_listops(expression):
    """Value (0-9) of a ListOps expression written with whitespace-separated tokens.

    Operators: MAX, MIN, MED (median, rounded down), SM (sum modulo 10).

    Example:
    >>> evaluate_listops("[MAX 4 3 [MIN 2 3 ] 1 0 [MED 1 5 8 9 2 ] ]")
    5
    >>> evaluate_listops("[SM 7 [MED 1 2 ] 5 ]")
    3
    """
    tokens = expression.split()
    stack = []  # [operator, arguments] of the open expressions
    result = None
    for position, token in enumerate(tokens):
        if result is not None:
            raise ValueError(f"Tokens after the end of the expression at position {position}: "
                             f"'{expression}'.")
        if token in _APPLY:
            stack.append((token, []))
        elif token == CLOSE:
            if not stack or not stack[-1][1]:
                raise ValueError(f"Unexpected ']' at position {position}: '{expression}'.")
            operator, arguments = stack.pop()
            value = _APPLY[operator](arguments)
            if stack:
                stack[-1][1].append(value)
            else:
                result = value
        elif len(token) == 1 and token in "0123456789" and stack:
            stack[-1][1].append(int(token))
        else:
            raise ValueError(f"Unexpected token '{token}' at position {position}: '{expression}'.")
    if result is None:
        raise ValueError(f"Unclosed expression: '{expression}'.")
    return result


@register_task("listops")
class ListOps(GeneratedTask):
    """ListOps (Nangia & Bowman 2018, https://arxiv.org/abs/1804.06028), as in Long Range Arena.

    Long Range Arena: Tay et al. 2020, https://arxiv.org/abs/2011.04006.

    Each input is a random nested expression such as `[MAX 4 3 [MIN 2 3 ] 1 0 [MED 1 5 8 9 2 ] ]`;
    the label is its value (10 classes). Generation follows Long Range Arena: an argument below
    `max_depth` is itself an expression with probability `branch_probability` (else a digit), an
    expression has 2 to `max_args` arguments and a random operator, and expressions longer than
    `max_length` tokens are drawn again. The top level is always an expression.

    Args:
        data_dir: ignored. Defaults to None.
        seed: generation seed. Defaults to 0.
        num_train: training expressions. Defaults to 5000.
        num_validation: validation expressions. Defaults to 1000.
        num_test: test expressions. Defaults to 1000.
        max_length: longest expression in tokens. Defaults to 256.
        max_depth: deepest nesting (1 = no nested expression). Defaults to 6.
        max_args: most arguments of one operator. Defaults to 8.
        branch_probability: chance that an argument is a nested expression. Defaults to 0.3.

    Example:
    >>> task = ListOps(num_train=3, max_depth=2, max_args=3)
    >>> split = task.split("train")
    >>> [evaluate_listops(text) for text in split.texts] == split.labels
    True
    """

    info = TaskInfo(
        name="listops",
        kind="classification",
        metric="accuracy",
        num_classes=10,
        tokenizer="word",
        tokenizer_options=WORD_TOKENIZER_OPTIONS,
        max_length=256,
        class_names=tuple(str(digit) for digit in range(10)),
        notes="Generated as in Long Range Arena (operators MAX, MIN, MED, SM; digits 0-9), with shorter "
        "expressions.",
    )

    def __init__(
        self,
        data_dir=None,
        seed=0,
        num_train=5000,
        num_validation=1000,
        num_test=1000,
        max_length=256,
        max_depth=6,
        max_args=8,
        branch_probability=0.3,
    ):
        super().__init__(data_dir, seed, num_train, num_validation, num_test)
        self.max_length = check_positive("max_length", max_length, minimum=4)
        self.max_depth = check_positive("max_depth", max_depth)
        self.max_args = check_positive("max_args", max_args, minimum=2)
        if not 0.0 <= branch_probability < 1.0:
            raise ConfigError(f"listops: branch_probability must be in [0, 1), got {branch_probability}.")
        self.branch_probability = float(branch_probability)
        self.info = dataclasses.replace(self.info, max_length=self.max_length)

    def _expression(self, draw, depth, tokens):
        """Appends one expression to `tokens`; returns its value, or None once tokens exceed max_length.

        `draw()` gives uniform floats in [0, 1) (a `random.Random.random`, much faster per call than
        numpy's scalar draws; seeded from the split's numpy generator).
        """
        operator = OPERATORS[int(draw() * len(OPERATORS))]
        tokens.append(operator)
        num_args = 2 + int(draw() * (self.max_args - 1))
        values = []
        for _ in range(num_args):
            if len(tokens) >= self.max_length:
                return None
            if depth < self.max_depth and draw() < self.branch_probability:
                value = self._expression(draw, depth + 1, tokens)
                if value is None:
                    return None
            else:
                value = int(draw() * 10)
                tokens.append(str(value))
            values.append(value)
        tokens.append(CLOSE)
        return _APPLY[operator](values)

    def _generate(self, rng, count):
        draw = random.Random(int(rng.integers(2**63))).random
        texts, labels = [], []
        while len(texts) < count:
            tokens = []
            value = self._expression(draw, 1, tokens)
            if value is not None and len(tokens) <= self.max_length:
                texts.append(" ".join(tokens))
                labels.append(value)
        return Split(texts=texts, labels=labels)
