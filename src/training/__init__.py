"""SageMaker entry points (thin): the inference script; the logic is in rebalancer.model."""
