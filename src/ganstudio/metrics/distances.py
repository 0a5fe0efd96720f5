"""Distances between sets of features or images; pure functions on tensors."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def frechet_distance(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N, D) (Heusel et al. 2017)."""
    real, fake = real.double(), fake.double()
    mu_r, mu_f = real.mean(0), fake.mean(0)
    cov_r, cov_f = torch.cov(real.T), torch.cov(fake.T)
    # tr(sqrt(cov_r cov_f)) from the eigenvalues of sqrt(cov_r) cov_f sqrt(cov_r), which is symmetric
    vals, vecs = torch.linalg.eigh(cov_r)
    sqrt_r = vecs @ torch.diag(vals.clamp_min(0).sqrt()) @ vecs.T
    cross = torch.linalg.eigvalsh(sqrt_r @ cov_f @ sqrt_r).clamp_min(0).sqrt().sum()
    return float((mu_r - mu_f).square().sum() + cov_r.trace() + cov_f.trace() - 2 * cross)


def kernel_inception_distance(
    real: torch.Tensor, fake: torch.Tensor, subsets: int = 50, subset_size: int = 1000, seed: int = 0
) -> float:
    """Unbiased MMD² with the cubic polynomial kernel, averaged over random subsets (Bińkowski et al. 2018)."""
    g = torch.Generator().manual_seed(seed)
    m = min(subset_size, len(real), len(fake))
    d = real.shape[1]
    total = 0.0
    for _ in range(subsets):
        x = real[torch.randperm(len(real), generator=g)[:m]].double()
        y = fake[torch.randperm(len(fake), generator=g)[:m]].double()
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        off = 1 - torch.eye(m, dtype=torch.float64)
        total += float((kxx * off).sum() / (m * (m - 1)) + (kyy * off).sum() / (m * (m - 1)) - 2 * kxy.mean())
    return total / subsets


def _knn_radii(x: torch.Tensor, k: int, chunk: int = 2048) -> torch.Tensor:
    radii = []
    for start in range(0, len(x), chunk):
        d = torch.cdist(x[start : start + chunk], x)
        radii.append(d.kthvalue(k + 1, dim=1).values)  # k+1: the point itself is at distance 0
    return torch.cat(radii)


def _coverage(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk: int = 2048) -> float:
    inside = []
    for start in range(0, len(points), chunk):
        d = torch.cdist(points[start : start + chunk], centres)
        inside.append((d <= radii[None]).any(dim=1))
    return torch.cat(inside).float().mean().item()


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019): k-NN manifolds of each set."""
    real, fake = real.float(), fake.float()
    precision = _coverage(fake, real, _knn_radii(real, k))
    recall = _coverage(real, fake, _knn_radii(fake, k))
    return precision, recall


def _laplacian_pyramid(images: torch.Tensor, levels: int) -> list[torch.Tensor]:
    pyramid, current = [], images
    for _ in range(levels - 1):
        down = F.avg_pool2d(current, 2)
        pyramid.append(current - F.interpolate(down, scale_factor=2, mode="nearest"))
        current = down
    pyramid.append(current)
    return pyramid


def _patches(images: torch.Tensor, count: int, size: int, g: torch.Generator) -> torch.Tensor:
    b, c, h, w = images.shape
    ys = torch.randint(0, h - size + 1, (b, count), generator=g)
    xs = torch.randint(0, w - size + 1, (b, count), generator=g)
    offsets = torch.arange(size)
    rows = (ys[..., None] + offsets)[..., :, None]  # (B, count, size, 1)
    cols = (xs[..., None] + offsets)[..., None, :]  # (B, count, 1, size)
    batch = torch.arange(b)[:, None, None, None]
    patches = images.permute(0, 2, 3, 1)[batch, rows, cols]  # (B, count, size, size, C)
    return patches.reshape(b * count, -1)


def sliced_wasserstein(
    real: torch.Tensor,
    fake: torch.Tensor,
    max_patches: int = 65536,
    patch_size: int = 7,
    projections: int = 256,
    seed: int = 0,
) -> float:
    """Sliced Wasserstein distance on Laplacian-pyramid patches (Karras et al. 2018), averaged over
    levels and reported ×1000; needs no pretrained network, so it works on any dataset. At most
    `max_patches` random 7x7 patches per set and level keep it fast for 10k images."""
    g = torch.Generator().manual_seed(seed)
    levels = max(1, min(4, (min(real.shape[-1], fake.shape[-1]) // 16).bit_length()))
    patches_per_image = max(1, max_patches // max(len(real), len(fake)))
    distances = []
    for level_r, level_f in zip(
        _laplacian_pyramid(real.float(), levels), _laplacian_pyramid(fake.float(), levels), strict=True
    ):
        size = min(patch_size, level_r.shape[-1])
        a, b = _patches(level_r, patches_per_image, size, g), _patches(level_f, patches_per_image, size, g)
        mean, std = a.mean(0), a.std(0).clamp_min(1e-6)
        a, b = (a - mean) / std, (b - mean) / std
        n = min(len(a), len(b))
        a, b = a[torch.randperm(len(a), generator=g)[:n]], b[torch.randperm(len(b), generator=g)[:n]]
        directions = F.normalize(torch.randn(a.shape[1], projections, generator=g), dim=0)
        pa, pb = (a @ directions).sort(0).values, (b @ directions).sort(0).values
        distances.append((pa - pb).abs().mean().item())
    return 1000 * sum(distances) / len(distances)
