"""How a bench runs its runs, by name (`kerasllm bench --executor NAME`).

- `serial` (default): one after another in this process (`kerasllm.bench.runner.run_bench`);
- `ray`: as Ray tasks over a Ray cluster (`kerasllm.bench.ray_executor`).

Each takes `(suite, out, display=None, command=None, shard=None)` and returns a `BenchResult`.

>>> EXECUTORS.names()
['serial', 'ray']
"""

from kerasllm.bench.ray_executor import run_bench_on_ray
from kerasllm.bench.runner import run_bench
from kerasllm.registry import Registry

EXECUTORS = Registry("executor")
EXECUTORS.register("serial")(run_bench)
EXECUTORS.register("ray")(run_bench_on_ray)
