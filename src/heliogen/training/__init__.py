"""One training loop on HF accelerate, shared by every trainer (diffusion, GAN, VAE, SR)."""
