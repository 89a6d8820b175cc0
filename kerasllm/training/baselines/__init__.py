"""Non-neural baselines: rows of a bench beside the architectures, trained from the same `TrainConfig`.

`kerasllm train --arch tfidf_lr` and `kerasllm bench --archs ...,tfidf_lr` look the name up in `BASELINES`
(name -> training function); a bench plans a baseline only on cells of the task kinds it trains on
(`plans_on`), so `--archs bow,tfidf_lr` on the quick suite gives tfidf_lr one row, on negation_sentiment.

Example:
>>> BASELINES.names(), BASELINES.get("tfidf_lr").kinds
(['tfidf_lr'], ('classification',))
"""

from kerasllm.training.baselines.registry import BASELINES, plans_on, register_baseline
from kerasllm.training.baselines.tfidf_lr import train_tfidf_lr  # registers "tfidf_lr"

__all__ = ["BASELINES", "plans_on", "register_baseline", "train_tfidf_lr"]
