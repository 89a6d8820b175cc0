"""Built-in generated tasks: no download, deterministic given a seed; importing registers them.

- `negation_sentiment`: classification whose labels depend on negation scope (bag of words at chance);
- `mqar`: multi-query associative recall (seq2seq);
- `selective_copy`: copy the content tokens out of noise (seq2seq);
- `toy_translation`: a fixed dictionary plus reversed word order (seq2seq, encoder-decoder, BLEU);
- `listops`: value of nested MAX/MIN/MED/SM expressions (10-class classification).

Example:
>>> import kerasllm as kl
>>> task = kl.data.get_task("mqar", seed=1)
>>> task.info.kind, task.info.metric
('seq2seq', 'token_accuracy')
"""

from kerasllm.data.synthetic.base import GeneratedTask
from kerasllm.data.synthetic.listops import ListOps, evaluate_listops
from kerasllm.data.synthetic.recall import MQAR, SelectiveCopy
from kerasllm.data.synthetic.sentiment import NegationSentiment, rule_based_label
from kerasllm.data.synthetic.translation import ToyTranslation

__all__ = ["GeneratedTask", "ListOps", "MQAR", "NegationSentiment", "SelectiveCopy", "ToyTranslation",
           "evaluate_listops",
           "rule_based_label"]
