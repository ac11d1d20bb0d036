"""Magnetogram super-resolution (MDI 2" to HMI 0.5"): the domain autoencoder, the six models of
the super-resolution paper, LoRA fine-tuning and full-disk inference."""
