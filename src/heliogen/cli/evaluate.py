"""``heliogen evaluate``: distribution metrics (default), ``pairs``, ``uncertainty``, ``autoencoder``, ``superres``, ``classify``, ``rank``, ``human``.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..data.kinds import KINDS

__all__ = ["evaluate"]


def _echo_table(metrics: dict):
    from ..evaluate.schema import flatten_metrics

    for k, v in flatten_metrics({"metrics": metrics}).items():
        click.echo(f"{k:40s} {v:.6g}")


@click.group(invoke_without_command=True, context_settings={"show_default": True})
@click.option("--real", type=click.Path(exists=True, path_type=Path), help="Real images: a store or a FITS directory.")
@click.option("--fake", type=click.Path(exists=True, path_type=Path), help="Generated images: a store or a FITS directory.")
@click.option("--metrics", default="fd,kid,prdc", help="Comma-separated: fd,kid,prdc,patch-fd,cluster,histogram.")
@click.option("--features", default="inception", help="Comma-separated extractors: inception,inception-random,effnet-lite0|1|2,clip-rn50,clip-vitb32,domain:PATH.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("metrics.json"), help="Metrics JSON.")
@click.option("--report", type=click.Path(path_type=Path), default=None, help="HTML report with plots.")
@click.option("--n", type=click.IntRange(min=1), default=None, help="Seeded random subset of each set.")
@click.option("--kind", type=click.Choice(list(KINDS)), default=None, help="Override the kind guessed from FITS headers.")
@click.option("--legacy-uint8", is_flag=True, help="Quantise to 8 bits before resizing, as pytorch-fid/clean-fid read PNGs.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32)
@click.option("--device", default="cpu", help="torch device (cpu, cuda, auto).")
@click.option("--kid-subsets", type=click.IntRange(min=1), default=100)
@click.option("--kid-subset-size", type=click.IntRange(min=2), default=1000)
@click.option("--k", "prdc_k", type=click.IntRange(min=1), default=3, help="Neighbours for precision/recall.")
@click.option("--clusters", type=click.IntRange(min=1), default=10, help="K for the cluster metrics.")
@click.option("--patch-sizes", default="64,128,256", help="Crop sizes for patch-FD.")
@click.option("--crops-per-image", type=click.IntRange(min=1), default=4)
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None, help="Real-feature cache [default: $HELIOGEN_CACHE_DIR or ~/.cache/heliogen/features].")
@click.option("--no-cache", is_flag=True, help="Do not cache real-set features.")
@click.option("--seed", type=int, default=0)
@click.option("--allow-mismatch", is_flag=True, help="Compare sets of different kinds or image sizes (refused otherwise).")
@click.pass_context
def evaluate(ctx, real, fake, metrics, features, out, report, n, kind, legacy_uint8, batch_size, device, kid_subsets,
             kid_subset_size, prdc_k, clusters, patch_sizes, crops_per_image, cache_dir, no_cache, seed, allow_mismatch):
    """Evaluate generated images against real ones (distribution metrics), or run a subcommand."""
    if ctx.invoked_subcommand is not None:
        return
    if real is None or fake is None:
        raise click.UsageError("give --real and --fake (or a subcommand: pairs, uncertainty, classify, rank, human)")
    from ..device import resolve_device
    from ..errors import HeliogenError
    from ..evaluate.commands.distribution import evaluate_distribution

    device = resolve_device(device)
    try:
        sizes = tuple(int(s) for s in patch_sizes.split(",") if s.strip())
    except ValueError:
        raise HeliogenError(f"--patch-sizes must be comma-separated integers, not {patch_sizes!r}") from None
    doc = evaluate_distribution(real, fake, metrics=metrics, features=features, n=n, out=out, report=report,
                                cache_dir=None if no_cache else (cache_dir or "default"), batch_size=batch_size, device=device,
                                legacy_uint8=legacy_uint8, kid_subsets=kid_subsets, kid_subset_size=kid_subset_size, k=prdc_k,
                                cluster_k=clusters, patch_sizes=sizes, crops_per_image=crops_per_image, seed=seed, kind=kind,
                                allow_mismatch=allow_mismatch)
    _echo_table(doc["metrics"])
    click.echo(f"wrote {out}" + (f" and {report}" if report else ""))


@evaluate.command()
@click.option("--pred", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path), help="Predicted FITS (G).")
@click.option("--target", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path), help="Target FITS (G), same names.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("pairs.json"))
@click.option("--report", type=click.Path(path_type=Path), default=None)
@click.option("--data-range", type=click.FloatRange(min=0, min_open=True), default=2.0, help="PSNR/SSIM range in model space ([-1, 1] -> 2).")
@click.option("--lpips-backbone", type=click.Path(exists=True, dir_okay=False), default=None, help="AlexNet weights for LPIPS [default: $HELIOGEN_LPIPS_BACKBONE].")
@click.option("--threshold", type=click.FloatRange(min=0, min_open=True), default=300.0, help="Active-region threshold (G).")
@click.option("--mu-correction", is_flag=True, help="Flux of the radial field over the true surface (|B|/mu^2).")
@click.option("--scale", type=click.FloatRange(min=0, min_open=True), default=2.0, help="Fourier split scale (arcsec).")
def pairs(pred, target, out, report, data_range, lpips_backbone, threshold, mu_correction, scale):
    """Super-resolution: pairwise, physics and Fourier metrics of matched FITS pairs."""
    from ..evaluate.commands.pairs import evaluate_pairs

    doc = evaluate_pairs(pred, target, out=out, report=report, data_range=data_range, lpips_backbone=lpips_backbone,
                         threshold=threshold, mu_correction=mu_correction, scale=scale)
    _echo_table(doc["metrics"])
    click.echo(f"wrote {out}")


@evaluate.command()
@click.option("--samples", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path), help="N FITS samples of one input.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("uncertainty.json"))
@click.option("--report", type=click.Path(path_type=Path), default=None)
@click.option("--scale", type=click.FloatRange(min=0, min_open=True), default=2.0)
@click.option("--order", type=click.FloatRange(min=0, min_open=True), default=2.0, help="Butterworth order.")
def uncertainty(samples, out, report, scale, order):
    """Per-pixel std over samples, split into small and large scales (Butterworth high-pass)."""
    from ..evaluate.commands.uncertainty import evaluate_uncertainty

    doc = evaluate_uncertainty(samples, out=out, report=report, scale=scale, order=order)
    _echo_table(doc["metrics"])
    click.echo(f"wrote {out}")


@evaluate.command("autoencoder")
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False), help="Magnetogram store to reconstruct.")
@click.option("--n", type=click.IntRange(min=1), default=64, help="Images (a seeded subset).")
@click.option("--seed", type=int, default=0)
@click.option("--out", type=click.Path(path_type=Path), default=Path("autoencoders"), help="Folder for the table and the figure.")
def autoencoder_quality(runs, data, n, seed, out):
    """Reconstruction PSNR and unsigned-flux error of autoencoder runs against their factor (SR paper fig. 4)."""
    from ..superres.evaluate_autoencoder import evaluate_autoencoders

    table = evaluate_autoencoders(runs, data, out, n=n, seed=seed)
    for r in table["results"]:
        click.echo(f"{r['type']:3s} f{r['factor']:<3d} PSNR {r['psnr_db']:6.2f} dB   flux error {r['flux_error_pct']:6.2f} %   {r['run']}")
    click.echo(f"wrote {out}/autoencoders.json, .md and .png")


@evaluate.command("superres")
@click.option("--model", "models", multiple=True, required=True, type=click.Path(exists=True, file_okay=False),
              help="A super-resolution run (repeat for several).")
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False), help="Paired magnetogram store (validation crops).")
@click.option("--n", type=click.IntRange(min=1), default=250, help="Crops (a seeded subset).")
@click.option("--samples", type=click.IntRange(min=1), default=10, help="Samples per crop of the diffusion models.")
@click.option("--sampler", default="dpmpp", help="Diffusion sampler.")
@click.option("--steps", type=click.IntRange(min=1), default=20)
@click.option("--seed", type=int, default=0)
@click.option("--features", default=None, help="FD extractor [default: clip-rn50 with $HELIOGEN_CLIP_WEIGHTS, else inception].")
@click.option("--lpips-backbone", type=click.Path(exists=True, dir_okay=False), default=None,
              help="AlexNet weights for LPIPS [default: $HELIOGEN_LPIPS_BACKBONE; without, the LPIPS form on EfficientNet-Lite0, named].")
@click.option("--threshold", type=float, default=300.0, help="AR mask |B| (G).")
@click.option("--out", type=click.Path(path_type=Path), default=Path("superres-eval"), help="Folder for the table, JSON and figures.")
@click.option("--progress/--no-progress", default=True)
def superres_quality(models, data, n, samples, sampler, steps, seed, features, lpips_backbone, threshold, out, progress):
    """The super-resolution paper's table 1 (pixels, perception, physics, Fourier, uncertainty) for runs."""
    from ..superres.evaluate import SuperResEvalSettings, evaluate_superres

    settings = SuperResEvalSettings(n=n, samples=samples, sampler=sampler, steps=steps, seed=seed, features=features,
                                    lpips_backbone=lpips_backbone, threshold=threshold, progress=progress)
    doc = evaluate_superres(models, data, out, settings)
    click.echo((out / "superres.md").read_text())
    click.echo(f"wrote {out}/superres.md, superres.json and {len(doc['figures'])} figures")


def _echo_classifier_table(doc: dict):
    m = doc["metrics"]
    real, gen, aug = m["real_heldout"], m["generated"], m.get("augmentation")
    head = f"{'class':5s} | {'real P':>6s} {'R':>5s} {'F1':>5s} {'n':>5s} | {'gen P':>6s} {'R':>5s} {'F1':>5s} {'n':>5s}"
    if aug:
        head += f" | {'acc real':>8s} {'+gen':>5s} {'added':>5s}"
    click.echo(head)
    click.echo("-" * len(head))

    def cells(scores, c):
        if c not in scores:
            return f"{'-':>6s} {'-':>5s} {'-':>5s} {0:5d}"
        s = scores[c]
        return f"{s['precision']:6.3f} {s['recall']:5.3f} {s['f1']:5.3f} {s['support']:5d}"

    for c in doc["settings"]["classes"]:
        row = f"{c:5s} | {cells(real, c)} | {cells(gen, c)}"
        if aug:
            row += f" | {aug['real_only'][c]:8.3f} {aug['with_generated'][c]:5.3f} {aug['generated_added'][c]:5d}"
        click.echo(row)
    click.echo(f"{'all':5s} | accuracy {real['accuracy']:.3f}, macro F1 {real['macro_f1']:.3f} | "
               f"accuracy {gen['accuracy']:.3f}, macro F1 {gen['macro_f1']:.3f}")


@evaluate.command()
@click.option("--real", required=True, type=click.Path(exists=True, path_type=Path), help="Real store with flare labels (heliogen data labels).")
@click.option("--fake", required=True, type=click.Path(exists=True, path_type=Path),
              help="Generated images: a FITS directory (class from the GOESCLS card) or a labelled store.")
@click.option("--classes", default=None, help="Comma-separated GOES classes to tell apart [default: those in the real training split].")
@click.option("--augment", default=None, help="Comma-separated minority classes: also train with their generated images added.")
@click.option("--arch", type=click.Choice(["cnn", "deit"]), default="cnn", help="Small CNN, or timm's DeiT-tiny (random init; needs timm).")
@click.option("--epochs", type=click.IntRange(min=1), default=20)
@click.option("--batch-size", type=click.IntRange(min=1), default=32)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-3, help="Adam learning rate.")
@click.option("--test-split", type=click.Choice(["val", "test"]), default="test", help="Held-out time-block split to score on.")
@click.option("--device", default="cpu", help="torch device (cpu, cuda, auto).")
@click.option("--out", type=click.Path(path_type=Path), default=Path("classifier.json"), help="Metrics JSON.")
@click.option("--seed", type=int, default=0, help="Seed of the classifier's initialisation and batch order.")
def classify(real, fake, classes, augment, arch, epochs, batch_size, lr, test_split, device, out, seed):
    """Flare-class classifier: held-out and generated per-class P/R/F1, and the augmentation experiment."""
    from ..evaluate.commands.classify import evaluate_classifier

    doc = evaluate_classifier(real, fake, classes=classes, augment=augment or (), arch=arch, epochs=epochs,
                              test_split=test_split, out=out, seed=seed, batch_size=batch_size, lr=lr, device=device)
    _echo_classifier_table(doc)
    click.echo(f"wrote {out}")


@evaluate.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--metrics", default=None, help="Comma-separated flattened metric names (default: all shared).")
@click.option("--out", type=click.Path(path_type=Path), default=None)
def rank(files, metrics, out):
    """Spearman rank correlations between metrics across models (one metrics JSON per model)."""
    from ..evaluate.commands.rank import evaluate_rank

    doc = evaluate_rank(files, metrics.split(",") if metrics else None, out=out)
    names = doc["metric_names"]
    w = max(len(n) for n in names)
    click.echo(" " * w + " " + " ".join(f"{i:>6d}" for i in range(len(names))))
    for i, (name, row) in enumerate(zip(names, doc["metrics"]["spearman"])):
        click.echo(f"{name:{w}s} " + " ".join(f"{v:6.2f}" for v in row) + f"  ({i})")


@evaluate.command()
@click.argument("table", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None)
def human(table, out):
    """Human real-or-fake study: accuracy, binomial p-value, correlation with expertise."""
    from ..evaluate.commands.human import evaluate_human

    doc = evaluate_human(table, out=out)
    click.echo(json.dumps(doc["metrics"], indent=2))
