"""A generated translation task: a fixed word-for-word dictionary, and the order reversed."""

from kerasllm.data.base import Split, TaskInfo, register_task
from kerasllm.errors import ConfigError
from kerasllm.data.synthetic.base import WORD_TOKENIZER_OPTIONS, GeneratedTask, check_positive


@register_task("toy_translation")
class ToyTranslation(GeneratedTask):
    """Translate by a fixed dictionary and reverse the word order: what an encoder-decoder must learn to do.

    The source is 3 to `max_words` words of a source vocabulary `s0 .. s{n-1}`; the target maps every word to its
    own target word (`s{i}` -> `t{(7 i + 3) mod n}`) and reverses the order, so a model needs both a lexicon and
    a reordering across the whole sentence (the reversal of Sutskever et al., 2014, as a test). Scored with BLEU.

        source: s4 s0 s9          target: t2 t3 t11

    Args:
        data_dir: ignored. Defaults to None.
        seed: generation seed. Defaults to 0.
        num_train, num_validation, num_test: examples per split. Default to 5000, 500, 500.
        num_words: source (and target) vocabulary size, coprime to 7. Defaults to 20.
        max_words: the longest sentence, at least 3. Defaults to 8.

    Example:
    >>> task = ToyTranslation(num_train=2)
    >>> source, target = task.split("train").texts[0], task.split("train").targets[0]
    >>> len(source.split()) == len(target.split()), task.translate(source) == target
    (True, True)
    """

    info = TaskInfo(
        name="toy_translation",
        kind="seq2seq",
        metric="bleu",
        tokenizer="word",
        tokenizer_options=WORD_TOKENIZER_OPTIONS,
        max_length=10,
        notes="Generated. Target = the source's words through a fixed dictionary, in reverse order.",
    )

    def __init__(self, data_dir=None, seed=0, num_train=5000, num_validation=500, num_test=500, num_words=20,
                 max_words=8):
        super().__init__(data_dir, seed, num_train, num_validation, num_test)
        self.num_words = check_positive("num_words", num_words, minimum=2)
        self.max_words = check_positive("max_words", max_words, minimum=3)
        if self.num_words % 7 == 0:
            raise ConfigError(f"toy_translation: num_words ({num_words}) must not be a multiple of 7 (the "
                              "dictionary is i -> 7 i + 3 mod num_words). Use e.g. 20.")

    def translate(self, source):
        """The reference translation of a source sentence."""
        return " ".join(f"t{(7 * int(word[1:]) + 3) % self.num_words}" for word in reversed(source.split()))

    def _generate(self, rng, count):
        lengths = rng.integers(3, self.max_words + 1, size=count)
        sources = [" ".join(f"s{i}" for i in rng.integers(self.num_words, size=length)) for length in lengths]
        return Split(texts=sources, targets=[self.translate(source) for source in sources])
