"""Pretrained word vectors (GloVe, word2vec, fastText text files) for the word tokenizer's embedding.

`read_word_vectors(path, vocabulary)` streams a text-format file and keeps only the rows the vocabulary
asks for, so a 400,000-word file never sits in memory whole. `load_embeddings(model, tokenizer, path,
texts)` copies them into a built model's token table and returns a report: coverage by types (vocabulary
words found) and by tokens (training-word occurrences found), the lines it skipped, and a one-line
`summary`. That is Kim (2014)'s CNN-static / non-static setup (https://arxiv.org/abs/1408.5882); whether
the vectors then stay fixed is the optimizer's business (`freeze_embeddings`).

Formats: one `word v1 ... vd` row per line, fields separated by spaces (GloVe); word2vec and fastText
text files (`.vec`) start with a `count dim` header line, which is recognised and checked. Plain or
gzip-compressed (recognised by its first bytes, whatever the name).

Decisions:
- A mis-encoded word is skipped and reported, never repaired: bytes that are not UTF-8, or UTF-8 that
  is UTF-8 read as cp1252 and saved again (mojibake such as `â€“` for `–`, as on five lines of the shared
  GloVe file). Its real spelling is a guess, and a wrong guess puts a vector under the wrong word; the
  report names the line and the probable word so the file can be fixed.
- A word that occurs twice keeps its first row (the files are ordered by frequency) and is reported.
- A vocabulary word missing from the file takes the row of the file's first word equal to it ignoring
  case, so a cased tokenizer's "The" gets GloVe 6B's "the" and a lowercasing tokenizer's "london" gets
  a cased file's "London". The report counts these (`case_folded`).

Example:
>>> import os, tempfile
>>> from kerasllm.models.word_vectors import read_word_vectors
>>> path = os.path.join(tempfile.mkdtemp(), "tiny.vec")
>>> with open(path, "w") as f:
...     _ = f.write("3 2\\nthe 0.5 -0.5\\ncat 1 2\\nDog 3 4\\n")
>>> vectors = read_word_vectors(path, vocabulary=["cat", "dog", "emu"])
>>> vectors.width, sorted(vectors.words)
(2, ['cat'])
>>> vectors.lookup("dog").tolist(), vectors.lookup("emu")  # "Dog", ignoring case; "emu" is missing
([3.0, 4.0], None)
"""

import collections
import dataclasses
import gzip
import os
from typing import Optional

import numpy as np
from keras import ops

from kerasllm.errors import ConfigError, DataError
from kerasllm.tokenizers.word import WordTokenizer

_GZIP_MAGIC = b"\x1f\x8b"
#: Bad lines and duplicate words listed in a report (all are counted).
MAX_LISTED = 20


@dataclasses.dataclass
class WordVectors:
    """The rows read from a word-vector file.

    Attributes:
        path: the file.
        width: the vectors' width (numbers per row).
        vectors: word -> float32 vector `(width,)`, the rows kept (all of them without a vocabulary).
        folded: lowercased word -> the vector of the file's first word with that lowercase form (the
            case-insensitive fallback of `lookup`), for the rows the vocabulary asked for.
        rows: data rows in the file (the header and blank lines not counted).
        bad_lines: `{"line", "token", "reason"[, "probably"]}` for every row skipped as mis-encoded.
        duplicates: words with more than one row (the first one is kept).
        header_count: the word count of a word2vec/fastText header, or None without a header.
    """

    path: str
    width: int
    vectors: dict
    folded: dict
    rows: int = 0
    bad_lines: list = dataclasses.field(default_factory=list)
    duplicates: list = dataclasses.field(default_factory=list)
    header_count: Optional[int] = None

    @property
    def words(self):
        """The words whose rows were kept under their exact spelling."""
        return self.vectors.keys()

    def lookup(self, word):
        """The vector of `word`, else of a word equal to it ignoring case, else None."""
        vector = self.vectors.get(word)
        return self.folded.get(word.lower()) if vector is None else vector


def _open(path):
    """The file as binary lines, gunzipped if it starts like gzip; one-line DataErrors when it can't be read."""
    try:
        handle = open(path, "rb")
    except (FileNotFoundError, NotADirectoryError):
        raise DataError(f"Word-vector file {path} does not exist. Pass the path of a GloVe, word2vec or "
                        "fastText text file (e.g. glove.6B.100d.txt).") from None
    except IsADirectoryError:
        raise DataError(f"Word-vector path {path} is a folder. Pass the vector file inside it "
                        "(e.g. glove.6B.100d.txt).") from None
    except OSError as error:
        raise DataError(f"Cannot read word-vector file {path} ({error.strerror}). Check its permissions.") from None
    if handle.read(2) == _GZIP_MAGIC:
        handle.close()
        return gzip.open(path, "rb")
    handle.seek(0)
    return handle


def _header(fields):
    """(count, dim) when a first line is a word2vec/fastText header (two integers), else None."""
    if len(fields) == 2 and all(field.isdigit() for field in fields):
        return int(fields[0]), int(fields[1])
    return None


def _undo_mojibake(token):
    """The word `token` would be if it is UTF-8 that was read as cp1252 (or Latin-1) and saved again, else None."""
    raw = bytearray()
    for char in token:
        try:
            raw += char.encode("cp1252")
        except UnicodeEncodeError:
            if 0x80 <= ord(char) <= 0x9F:  # the bytes cp1252 leaves undefined pass through as these
                raw.append(ord(char))
            else:
                return None
    try:
        repaired = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return repaired if repaired != token else None


def _decode(token_bytes, number):
    """`(word, None)` for a well-encoded word, else `(None, bad-line record)`."""
    try:
        token = token_bytes.decode("utf-8")
    except UnicodeDecodeError:
        return None, {"line": number, "token": token_bytes.decode("utf-8", "backslashreplace"),
                      "reason": "not UTF-8"}
    if token.isascii():
        return token, None
    repaired = _undo_mojibake(token)
    if repaired is None:
        return token, None
    return None, {"line": number, "token": token, "reason": "mis-encoded (UTF-8 read as cp1252)",
                  "probably": repaired}


def _rows(path):
    """Yields `(line number, token bytes, vector field bytes)` per data row, after checking a header.

    Yields `("header", count, dim)` first when the file has a word2vec/fastText header.
    """
    with _open(path) as lines:
        try:
            first = True
            for number, line in enumerate(lines, start=1):
                token, _, rest = line.strip(b"\r\n").partition(b" ")
                if not token.strip() and not rest.strip():
                    continue  # a blank line
                if first:
                    first = False
                    header = _header(line.split())
                    if header is not None:
                        yield "header", header[0], header[1]
                        continue
                yield number, token, rest
        except (OSError, EOFError, gzip.BadGzipFile) as error:
            raise DataError(f"Word-vector file {path} is damaged ({error}). Download or unpack it again.") from None


def _width_error(path, number, found, width, where):
    return DataError(f"Line {number} of {path} has {found} numbers after its word, but {where} has {width}: "
                     "the rows have different widths. Fix or remove that line (or use an intact copy of the file).")


def _scan(path, keep):
    """Reads `path`, calling `keep(word, vector fields, number)` for each well-encoded, first-seen row."""
    width, where, header_count = None, None, None
    seen, duplicates, bad_lines, rows = set(), [], [], 0
    for number, token_bytes, rest in _rows(path):
        if number == "header":
            header_count, width, where = token_bytes, rest, "the header (line 1)"
            continue
        rows += 1
        stripped = rest.strip()
        found = stripped.count(b" ") + 1 if stripped else 0
        if found != width:
            found = len(stripped.split())  # not single spaces: count properly before judging
        if width is None:
            if found == 0:
                raise DataError(f"Line {number} of {path} has a word but no numbers. Pass a GloVe, word2vec "
                                "or fastText text file (`word v1 v2 ...` per line).")
            width, where = found, f"line {number}"
        elif found != width:
            raise _width_error(path, number, found, width, where)
        token, bad = _decode(token_bytes, number)
        if bad is not None:
            bad_lines.append(bad)
            continue
        if token in seen:
            duplicates.append(token)
            continue
        seen.add(token)
        keep(token, stripped, number)
    if width is None or rows == 0:
        raise DataError(f"Word-vector file {path} holds no vectors. Pass a GloVe, word2vec or fastText text "
                        "file (`word v1 v2 ...` per line).")
    return width, rows, bad_lines, duplicates, header_count


def _parse(path, number, fields):
    try:
        return np.asarray(fields.split(), dtype=np.float32)
    except ValueError:
        raise DataError(f"Line {number} of {path} has a field that is not a number. Fix or remove that line "
                        "(or use an intact copy of the file).") from None


def read_word_vectors(path, vocabulary=None):
    """Reads a GloVe / word2vec / fastText text file, keeping only `vocabulary`'s rows when one is given.

    Args:
        path: str. The file, plain or gzip-compressed.
        vocabulary: iterable of str or None. The words wanted (their exact spelling, and ignoring case, see
            `WordVectors.lookup`); None keeps every row.

    Returns:
        A `WordVectors`.

    Raises:
        DataError: the file is missing, empty, damaged, has rows of different widths or a row that is not
            numbers.
    """
    path = os.fspath(path)
    vectors, folded = {}, {}
    wanted = None if vocabulary is None else set(vocabulary)
    wanted_folded = None if vocabulary is None else {word.lower() for word in wanted}

    def keep(token, fields, number):
        lower = token.lower()
        exact = wanted is None or token in wanted
        fold = (wanted_folded is None or lower in wanted_folded) and lower not in folded
        if exact or fold:
            vector = _parse(path, number, fields)
            if exact:
                vectors[token] = vector
            if fold:
                folded[lower] = vector

    width, rows, bad_lines, duplicates, header_count = _scan(path, keep)
    return WordVectors(path, width, vectors, folded, rows, bad_lines, duplicates, header_count)


def vector_width(path):
    """The width of the vectors in `path`, read from its header or first row (cheap: no full read).

    Raises:
        DataError: the file is missing, empty, or its first row disagrees with its header.
    """
    path = os.fspath(path)
    width, where = None, None
    for number, token, rest in _rows(path):
        if number == "header":
            width, where = rest, "the header (line 1)"
            continue
        found = len(rest.split())
        if width is not None and found != width:
            raise _width_error(path, number, found, width, where)
        if found == 0:
            raise DataError(f"Line {number} of {path} has a word but no numbers. Pass a GloVe, word2vec "
                            "or fastText text file (`word v1 v2 ...` per line).")
        return found
    raise DataError(f"Word-vector file {path} holds no vectors. Pass a GloVe, word2vec or fastText text "
                    "file (`word v1 v2 ...` per line).")


def coverage(vectors, vocabulary, words_of, texts=None):
    """How much of a vocabulary and of a text the vectors cover.

    Args:
        vectors: a `WordVectors`.
        vocabulary: list of str, the tokenizer's words (the reserved tokens left out).
        words_of: callable, text -> its words as the tokenizer splits them.
        texts: iterable of str or None. The training text, for the coverage by tokens.

    Returns:
        A dict: `vocabulary_words`, `found_words`, `missing_words`, `case_folded`, `type_coverage` (found /
        vocabulary words), and with `texts`, `training_tokens` (all word occurrences, those outside the
        vocabulary included), `found_tokens` and `token_coverage`.
    """
    found = {word for word in vocabulary if vectors.lookup(word) is not None}
    folded = sum(1 for word in found if word not in vectors.vectors)
    report = {
        "vocabulary_words": len(vocabulary),
        "found_words": len(found),
        "missing_words": len(vocabulary) - len(found),
        "case_folded": folded,
        "type_coverage": len(found) / len(vocabulary) if vocabulary else 0.0,
    }
    if texts is not None:
        counts = collections.Counter()
        for text in texts:
            counts.update(words_of(text))
        total = sum(counts.values())
        hits = sum(n for word, n in counts.items() if word in found)
        report.update(training_tokens=total, found_tokens=hits, token_coverage=hits / total if total else 0.0)
    return report


def _tables(model):
    """The built `TextEmbedding` whose token table the vectors fill: the model's backbone's."""
    backbone = getattr(model, "backbone", None)
    embedding = getattr(backbone, "embedding", None)
    if embedding is None or not embedding.built:
        raise ConfigError("load_embeddings needs a built model with a kerasllm backbone (model.backbone.embedding). "
                          "Build it with kerasllm.models.build_model first.")
    return embedding


def load_embeddings(model, tokenizer, path, texts=None, rescale_missing=True):
    """Copies pretrained vectors into `model`'s token table for the word tokenizer's vocabulary.

    Rows of words the file lacks (and of the reserved tokens) keep their random initialization, rescaled
    (with `rescale_missing`) so that their standard deviation is the loaded vectors', as Kim (2014) draws
    unknown words with the pretrained vectors' variance: Keras' default U[-0.05, 0.05] rows would otherwise
    be about ten times smaller than GloVe's.

    Args:
        model: a built head (`TextClassifier`, `CausalLM`, ...) whose `backbone.embedding` table is as wide
            as the vectors (`build_model` sets `embedding_dim` from `config.embeddings` for this).
        tokenizer: the fitted `WordTokenizer` the model's ids come from.
        path: str. The vector file (see `read_word_vectors`).
        texts: iterable of str or None. The training text, for the coverage by tokens.
        rescale_missing: bool. Rescale the rows left random, as above. Defaults to `True`.

    Returns:
        A JSON-ready dict: the `coverage` numbers, `file`, `width`, `hidden_dim`, `projected`, `file_rows`,
        `bad_lines` and `duplicates` (counts, with `bad_line_list` and `duplicate_words`, the first
        `MAX_LISTED`), `missing_rows_scale`, and `summary`, one line for a log.

    Raises:
        ConfigError: the tokenizer is not a word tokenizer, or the table's shape does not fit.
        DataError: the file cannot be used (see `read_word_vectors`).

    Example:
    >>> import os, tempfile
    >>> from kerasllm.config import TrainConfig
    >>> from kerasllm.models import build_model
    >>> from kerasllm.models.word_vectors import load_embeddings
    >>> from kerasllm.tokenizers import get_tokenizer
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.txt")
    >>> with open(path, "w") as f:
    ...     _ = f.write("the 0.5 -0.5\\ncat 1 2\\n")
    >>> class Info:
    ...     kind, num_classes, max_length = "classification", 2, 8
    >>> texts = ["the cat sat", "the dog"]
    >>> tok = get_tokenizer("word").fit(texts)
    >>> config = TrainConfig(task="demo", arch="bow", hidden_dim=8, num_layers=1, embeddings=path)
    >>> model = build_model(config, Info, tok.vocabulary_size)
    >>> print(load_embeddings(model, tok, path, texts)["summary"])  # doctest: +ELLIPSIS
    embeddings: 2 of 4 words (50.0%) and 60.0% of training tokens found in tiny.txt; 2-wide vectors projected...
    """
    if not isinstance(tokenizer, WordTokenizer):
        name = getattr(tokenizer, "registered_name", None) or type(tokenizer).__name__
        raise ConfigError(f"--embeddings needs the word tokenizer, but this run uses the '{name}' tokenizer: "
                          "word vectors are looked up by whole words. Set tokenizer=word, or drop --embeddings.")
    embedding = _tables(model)
    vocabulary = list(tokenizer.vocabulary)
    vectors = read_word_vectors(path, vocabulary)
    table = embedding.embeddings
    rows, width = (int(n) for n in table.shape)
    if width != vectors.width or rows != tokenizer.vocabulary_size:
        raise ConfigError(f"The model's token table is {rows} x {width}, but the tokenizer has "
                          f"{tokenizer.vocabulary_size} ids and {path} holds {vectors.width}-wide vectors. Build the "
                          "model with build_model from a config whose embeddings is this file (it sets embedding_dim), "
                          "and this tokenizer.")
    values = np.array(ops.convert_to_numpy(table), dtype="float32")
    found = np.zeros(rows, bool)
    first_id = tokenizer.vocabulary_size - len(vocabulary)  # the reserved ids come first
    for token_id, word in enumerate(vocabulary, start=first_id):
        vector = vectors.lookup(word)
        if vector is not None:
            values[token_id] = vector
            found[token_id] = True
    scale = 1.0
    if rescale_missing and found.any() and not found.all():
        random_std = float(values[~found].std())
        if random_std > 0:
            scale = float(values[found].std()) / random_std
            values[~found] *= scale
    table.assign(values.astype(table.dtype))

    report = coverage(vectors, vocabulary, tokenizer.split_words, texts)
    report.update(
        path=vectors.path,
        file=os.path.basename(vectors.path),
        width=vectors.width,
        hidden_dim=embedding.hidden_dim,
        projected=vectors.width != embedding.hidden_dim,
        file_rows=vectors.rows,
        bad_lines=len(vectors.bad_lines),
        bad_line_list=vectors.bad_lines[:MAX_LISTED],
        duplicates=len(vectors.duplicates),
        duplicate_words=vectors.duplicates[:MAX_LISTED],
        missing_rows_scale=scale,
    )
    report["summary"] = summary_line(report)
    return report


def summary_line(report):
    """The one line a run logs about its word vectors, from a `load_embeddings` report."""
    line = (f"embeddings: {report['found_words']:,} of {report['vocabulary_words']:,} words "
            f"({report['type_coverage']:.1%})")
    if "token_coverage" in report:
        line += f" and {report['token_coverage']:.1%} of training tokens"
    line += f" found in {report['file']}"
    if report["case_folded"]:
        line += f" ({report['case_folded']:,} ignoring case)"
    if report["projected"]:
        line += f"; {report['width']}-wide vectors projected to hidden_dim {report['hidden_dim']}"
    if report["bad_lines"]:
        lines = ", ".join(str(bad["line"]) for bad in report["bad_line_list"][:5])
        more = ", ..." if report["bad_lines"] > 5 else ""
        line += f"; {report['bad_lines']:,} mis-encoded lines skipped (lines {lines}{more})"
    if report["duplicates"]:
        line += f"; {report['duplicates']:,} repeated words kept at their first row"
    return line
