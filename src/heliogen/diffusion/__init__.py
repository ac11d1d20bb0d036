"""Diffusion models for solar images: schedules, conditioning, guidance and samplers."""
