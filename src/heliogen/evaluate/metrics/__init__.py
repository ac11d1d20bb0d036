"""The metrics, one module each; every function takes arrays (or features) and returns numbers.

=============== ===================================================================
module          what
=============== ===================================================================
fd              Fréchet distance between Gaussian fits of two feature sets
kid             kernel inception distance (unbiased MMD, cubic kernel)
prdc            precision, recall, density, coverage
patch_fd        FD over random crops of several sizes
cluster         cluster entropy, distance and similarity (CE, CD, CS)
histogram       pixel-value distributions: W1, KS, moments, and their plot
pairwise        PSNR, SSIM, MSE, MAE between a prediction and its target
lpips           LPIPS-Alex perceptual distance
physics         unsigned and net flux, active-region area of magnetograms
fourier         amplitude and radial power spectra, small-scale power fraction
uncertainty     per-pixel std of samples split into small and large scales
classifier      flare-class classifier, per-class scores, augmentation experiment
ranking         Spearman rank correlations between metrics across models
human_study     real-or-fake human study: accuracy, binomial test, expertise
=============== ===================================================================

The pipelines behind ``heliogen evaluate`` that read images and write the metrics JSON
are in :mod:`heliogen.evaluate.commands`.
"""
