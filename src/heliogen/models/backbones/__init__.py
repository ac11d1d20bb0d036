"""Networks heliogen loads frozen but does not train, one per module.

* :mod:`.inception_tf` - the TF-FID Inception (eager port of the TorchScript graph), FID;
* :mod:`.clip` - CLIP's RN50 and ViT-B/32 image towers and a checkpoint loader;
* :mod:`.efficientnet_lite` - EfficientNet-Lite0/1/2 with ImageNet weights (ProjectedGAN's
  feature network, and an FD feature space);
* :mod:`.alexnet` - AlexNet's feature stack, the LPIPS backbone.

Nothing here imports :mod:`heliogen.evaluate`: the metrics build on these networks, never
the other way round. The modules are not imported here, so importing the package is cheap.
"""
