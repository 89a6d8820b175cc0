"""Real dataset loaders, one module per dataset; importing this package registers them.

Each task reads `data_dir/<task name>/` with the dataset's standard file names, or, without a
data_dir, downloads the published files into `~/.cache/kerasllm/datasets/<task name>/` and checks
their sha256.

Example:
>>> import kerasllm as kl
>>> {"sst2", "imdb", "ag_news", "tiny_shakespeare", "ptb", "wikitext2", "multi30k", "scitldr", "pairs"} <= set(
...     kl.data.list_tasks())
True
"""

from kerasllm.data.datasets.ag_news import AGNews
from kerasllm.data.datasets.base import RealTask
from kerasllm.data.datasets.imdb import IMDB
from kerasllm.data.datasets.multi30k import Multi30k
from kerasllm.data.datasets.pairs import Pairs
from kerasllm.data.datasets.ptb import PennTreebank
from kerasllm.data.datasets.scitldr import SciTLDR
from kerasllm.data.datasets.sst2 import SST2
from kerasllm.data.datasets.tiny_shakespeare import TinyShakespeare
from kerasllm.data.datasets.wikitext import WikiText2

__all__ = ["AGNews", "IMDB", "Multi30k", "Pairs", "PennTreebank", "RealTask", "SciTLDR", "SST2", "TinyShakespeare",
           "WikiText2"]
