"""Non-neural baselines: rows of a bench beside the architectures, trained from the same `TrainConfig`.

`kerasllm train --arch tfidf_lr` and `kerasllm bench --archs ...,tfidf_lr` look the name up in `BASELINES`
(name -> training function); a bench plans a baseline only on cells of the task kinds it trains on
(`plans_on`), so `--archs bow,tfidf_lr` on the quick suite gives tfidf_lr one row, on negation_sentiment.
`copy` and `lead` (the source, or its first sentence, as the output) are the floors of the seq2seq tasks
scored on text: translation (BLEU) and summarization (ROUGE).

Example:
>>> BASELINES.names(), BASELINES.get("tfidf_lr").kinds, BASELINES.get("lead").kinds
(['tfidf_lr', 'copy', 'lead'], ('classification',), ('seq2seq',))
"""

from kerasllm.training.baselines.registry import BASELINES, plans_on, register_baseline
from kerasllm.training.baselines.tfidf_lr import train_tfidf_lr  # registers "tfidf_lr" (first: the listing's order)
from kerasllm.training.baselines.text_copy import train_copy, train_lead  # registers "copy", "lead"

__all__ = ["BASELINES", "plans_on", "register_baseline", "train_copy", "train_lead", "train_tfidf_lr"]
