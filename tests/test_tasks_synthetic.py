"""Built-in generated tasks: determinism, metadata, and that each task tests what it claims to."""

import collections
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kerasllm.data import get_task, list_tasks
from kerasllm.data.synthetic import (
    MQAR,
    ListOps,
    NegationSentiment,
    SelectiveCopy,
    evaluate_listops,
    rule_based_label,
)
from kerasllm.data.synthetic.sentiment import NEGATIVE, POSITIVE, TEMPLATES
from kerasllm.errors import ConfigError

BUILT_IN = ("negation_sentiment", "mqar", "selective_copy", "listops")
SPLITS = ("train", "validation", "test")
WORD_OPTIONS = {"split": "whitespace", "lowercase": False}


@pytest.fixture(scope="module")
def sentiment():
    return NegationSentiment()


# --- common behaviour ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", BUILT_IN)
def test_registered_and_ignores_data_dir(name):
    assert name in list_tasks()
    task = get_task(name, data_dir="/nonexistent/folder", num_train=20, num_validation=5, num_test=5)
    assert [len(task.split(split)) for split in SPLITS] == [20, 5, 5]


@pytest.mark.parametrize("name", BUILT_IN)
def test_deterministic_given_seed(name):
    sizes = dict(num_train=50, num_validation=10, num_test=10)
    first, again, other = get_task(name, **sizes), get_task(name, **sizes), get_task(name, seed=1, **sizes)
    for split in SPLITS:
        assert first.split(split) == again.split(split)
        assert first.split(split).texts != other.split(split).texts
    # Independent sub-seeds: the splits differ, and resizing train leaves the test set alone.
    assert first.split("train").texts[:10] != first.split("validation").texts
    assert get_task(name, num_train=7, num_test=10).split("test") == first.split("test")


@pytest.mark.parametrize("name", BUILT_IN)
def test_info_and_split_shapes(name):
    task = get_task(name, num_train=30, num_validation=5, num_test=5)
    info = task.info
    assert info.name == name
    assert info.tokenizer == "word" and info.tokenizer_options == WORD_OPTIONS
    train = task.split("train")
    if info.kind == "classification":
        assert info.metric == "accuracy"
        assert len(train.labels) == len(train.texts) and train.targets is None
        assert all(0 <= label < info.num_classes for label in train.labels)
        assert len(info.class_names) == info.num_classes
    else:
        assert info.kind == "seq2seq" and info.metric == "token_accuracy"
        assert len(train.targets) == len(train.texts) and train.labels is None
        longest = max(len(s.split()) + len(t.split()) + 2 for s, t in zip(train.texts, train.targets))
        assert longest <= info.max_length
    assert task.train_texts()[: len(train)] == train.texts


@pytest.mark.parametrize(
    "name, options",
    [
        ("mqar", {"num_pairs": 4, "num_queries": 5}),
        ("mqar", {"num_pairs": 10, "key_vocab_size": 8}),
        ("selective_copy", {"length": 4, "num_tokens": 5}),
        ("listops", {"max_args": 1}),
        ("listops", {"branch_probability": 1.5}),
        ("negation_sentiment", {"num_train": 0}),
        ("negation_sentiment", {"max_length": "long"}),
    ],
)
def test_bad_settings_are_config_errors(name, options):
    with pytest.raises(ConfigError):
        get_task(name, **options)


# --- negation_sentiment ---------------------------------------------------------------------------

def _bag_of_words_accuracy(train, test):
    """Multinomial naive Bayes with add-one smoothing, in numpy."""
    vocab = {word: i for i, word in enumerate(sorted({w for text in train.texts for w in text.split()}))}

    def counts(texts):
        matrix = np.zeros((len(texts), len(vocab)))
        for row, text in enumerate(texts):
            for word in text.split():
                if word in vocab:
                    matrix[row, vocab[word]] += 1
        return matrix

    x_train, y_train = counts(train.texts), np.array(train.labels)
    log_prior = np.log(np.bincount(y_train, minlength=2) / len(y_train))
    word_counts = np.stack([x_train[y_train == c].sum(axis=0) + 1 for c in (0, 1)])
    log_likelihood = np.log(word_counts / word_counts.sum(axis=1, keepdims=True))
    predictions = (counts(test.texts) @ log_likelihood.T + log_prior).argmax(axis=1)
    return float((predictions == np.array(test.labels)).mean())


def test_sentiment_bag_of_words_is_at_chance(sentiment):
    train, test = sentiment.split("train"), sentiment.split("test")
    assert len(train) == 5000 and len(test) == 1000
    # Sanity check of the classifier: it learns a real bag-of-words signal when there is one.
    leaky = type(train)(texts=[f"{t} {'yes' if y else 'no'}" for t, y in zip(train.texts, train.labels)],
                        labels=train.labels)
    assert _bag_of_words_accuracy(leaky, leaky) > 0.95
    assert _bag_of_words_accuracy(train, test) <= 0.60


def test_sentiment_word_order_rule_is_perfect(sentiment):
    for split in SPLITS:
        data = sentiment.split(split)
        assert [rule_based_label(text) for text in data.texts] == data.labels


def test_sentiment_swapping_adjectives_flips_label_and_keeps_bag(sentiment):
    data = sentiment.split("validation")
    for text, label in zip(data.texts[:300], data.labels[:300]):
        words = text.split()
        positive = [w for w in words if w in POSITIVE]
        negative = [w for w in words if w in NEGATIVE]
        assert len(positive) == 1 and len(negative) == 1
        swap = {positive[0]: negative[0], negative[0]: positive[0]}
        swapped = " ".join(swap.get(w, w) for w in words)
        assert rule_based_label(swapped) == 1 - label
        assert sorted(swapped.split()) == sorted(words)


def _template_of(text):
    """Index of the template that produced `text` (the one whose pattern matches it)."""
    matches = []
    for index, template in enumerate(TEMPLATES):
        pattern = re.escape(template)
        pattern = pattern.replace(re.escape("{s}"), "(?:the|this) \\w+")
        for slot in ("{pos}", "{neg}"):
            pattern = pattern.replace(re.escape(slot), "(?:\\w+ )?\\w+")
        if re.fullmatch(pattern, text):
            matches.append(index)
    assert len(matches) == 1, (text, matches)
    return matches[0]


def test_sentiment_balance_variety_and_length(sentiment):
    data = sentiment.split("train")
    assert 0.45 < np.mean(data.labels) < 0.55
    labels_by_template = collections.defaultdict(list)
    for text, label in zip(data.texts, data.labels):
        labels_by_template[_template_of(text)].append(label)
    # Every template occurs, often, with both labels about equally.
    assert sorted(labels_by_template) == list(range(len(TEMPLATES)))
    assert all(0.35 < np.mean(labels) < 0.65 for labels in labels_by_template.values())
    assert max(len(text.split()) for text in data.texts) <= 16 <= sentiment.info.max_length
    assert len(set(data.texts)) > 0.9 * len(data.texts)


# --- mqar -------------------------------------------------------------------------------------------

def test_mqar_targets_are_the_queried_values():
    task = MQAR(num_train=300, num_pairs=8, num_queries=4)
    assert task.info.max_length == 2 * 8 + 1 + 4 + 4 + 2
    data = task.split("train")
    for source, target in zip(data.texts, data.targets):
        tokens = source.split()
        assert len(tokens) == 2 * 8 + 1 + 4 and tokens[16] == "|"
        keys, values, queries = tokens[0:16:2], tokens[1:16:2], tokens[17:]
        assert len(set(keys)) == 8 and len(set(queries)) == 4 and set(queries) <= set(keys)
        assert all(k.startswith("a") for k in keys) and all(v.startswith("b") for v in values)
        lookup = dict(zip(keys, values))
        assert target.split() == [lookup[q] for q in queries]


def test_mqar_vocabulary_sizes():
    task = MQAR(num_train=500, num_pairs=4, num_queries=2, key_vocab_size=6, value_vocab_size=3)
    data = task.split("train")
    tokens = {t for text in data.texts + data.targets for t in text.split()}
    assert tokens == {f"a{i}" for i in range(6)} | {f"b{i}" for i in range(3)} | {"|"}


# --- selective_copy ------------------------------------------------------------------------------------

def test_selective_copy_targets_are_content_tokens_in_order():
    task = SelectiveCopy(num_train=200)
    assert task.info.max_length == 64 + 8 + 2
    data = task.split("train")
    positions = set()
    for source, target in zip(data.texts, data.targets):
        tokens = source.split()
        assert len(tokens) == 64
        content = [(i, t) for i, t in enumerate(tokens) if t != "."]
        assert len(content) == 8
        assert [t for _, t in content] == target.split()
        assert {t for _, t in content} <= {f"t{i}" for i in range(16)}
        positions.add(tuple(i for i, _ in content))
    assert len(positions) == len(data.texts)  # the spacing changes from example to example


# --- listops --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "expression, value",
    [
        ("[MAX 4 3 [MIN 2 3 ] 1 0 [MED 1 5 8 9 2 ] ]", 5),  # MIN=2, MED(1 2 5 8 9)=5, MAX(4 3 2 1 0 5)=5
        ("[MIN 4 3 [MAX 2 9 ] ]", 3),
        ("[SM 9 9 9 ]", 7),  # 27 mod 10
        ("[MED 1 2 ]", 1),  # median 1.5, rounded down as in LRA
        ("[MED 3 9 4 1 ]", 3),  # sorted 1 3 4 9 -> (3 + 4) // 2
        ("[SM [SM 5 5 ] [MAX 0 8 ] 3 ]", 1),  # 0 + 8 + 3 = 11
        ("[MAX [MIN [MED 7 7 1 ] 8 ] [SM 1 1 ] ]", 7),
    ],
)
def test_listops_evaluator_on_hand_computed_examples(expression, value):
    assert evaluate_listops(expression) == value


@pytest.mark.parametrize("bad", ["", "[MAX 1 2", "[MAX ]", "[MAX 1 2 ] 3", "[MAX 12 3 ]", "1", "[FOO 1 ]"])
def test_listops_evaluator_rejects_malformed(bad):
    with pytest.raises(ValueError):
        evaluate_listops(bad)


def _depth_and_args(text):
    depth = deepest = widest = 0
    arguments = []
    for token in text.split():
        if token.startswith("["):
            if arguments:
                arguments[-1] += 1
            arguments.append(0)
            depth += 1
            deepest = max(deepest, depth)
        elif token == "]":
            widest = max(widest, arguments.pop())
            depth -= 1
        else:
            arguments[-1] += 1
    return deepest, widest


def test_listops_generated_data_respects_limits_and_covers_classes():
    task = ListOps()
    data = task.split("train")
    lengths = [len(text.split()) for text in data.texts]
    assert max(lengths) <= 256 == task.info.max_length
    assert np.mean(lengths) > 20  # mostly nested expressions, not single operators
    assert set(data.labels) == set(range(10))
    assert [evaluate_listops(text) for text in data.texts] == data.labels
    shapes = [_depth_and_args(text) for text in data.texts[:500]]
    assert max(d for d, _ in shapes) <= 6 and max(a for _, a in shapes) <= 8
    assert min(a for _, a in shapes) >= 2


def test_listops_small_limits():
    task = ListOps(num_train=300, max_length=30, max_depth=3, max_args=4)
    data = task.split("train")
    assert task.info.max_length == 30
    assert max(len(text.split()) for text in data.texts) <= 30
    assert max(_depth_and_args(text)[0] for text in data.texts) <= 3


_TREES = st.recursive(
    st.integers(0, 9),
    lambda children: st.tuples(
        st.sampled_from(["MAX", "MIN", "MED", "SM"]), st.lists(children, min_size=2, max_size=5)
    ),
    max_leaves=30,
)


def _render(tree):
    if isinstance(tree, int):
        return str(tree)
    return f"[{tree[0]} " + " ".join(_render(child) for child in tree[1]) + " ]"


def _reference_value(tree):
    if isinstance(tree, int):
        return tree
    values = [_reference_value(child) for child in tree[1]]
    return {"MAX": max, "MIN": min, "MED": lambda v: int(np.median(v)), "SM": lambda v: int(np.sum(v) % 10)}[
        tree[0]
    ](values)


@settings(max_examples=200, deadline=None)
@given(_TREES.filter(lambda tree: not isinstance(tree, int)))
def test_listops_evaluator_matches_reference(tree):
    assert evaluate_listops(_render(tree)) == _reference_value(tree)
