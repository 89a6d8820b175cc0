"""kerasllm: compare text-model architectures on the same footing with Keras 3."""

__version__ = "0.1.0"
