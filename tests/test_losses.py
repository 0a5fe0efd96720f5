import torch

from ganstudio.losses import gradient_penalty, rpgan_d, rpgan_g


def test_gradient_penalty_of_a_linear_critic_is_the_squared_weight_norm():
    w = torch.randn(1, 2, 3, 3, requires_grad=True)
    x = torch.randn(5, 2, 3, 3, requires_grad=True)
    logits = (x * w).sum(dim=(1, 2, 3))
    penalty = gradient_penalty(logits, x)
    assert torch.allclose(penalty, w.square().sum())
    penalty.backward()  # the penalty reaches the critic's weights (double backward)
    assert torch.allclose(w.grad, 2 * w)


def test_gradient_penalty_is_zero_for_a_flat_critic_and_grows_with_slope():
    x = torch.randn(4, 1, 2, 2, requires_grad=True)
    assert gradient_penalty((x * 0).sum(dim=(1, 2, 3)), x) == 0
    steep = gradient_penalty((3 * x).sum(dim=(1, 2, 3)), x)
    gentle = gradient_penalty((1 * x).sum(dim=(1, 2, 3)), x)
    assert torch.allclose(steep, 9 * gentle)


def test_relativistic_pairing_prefers_reals_above_their_paired_fakes():
    real, fake = torch.tensor([5.0, 4.0]), torch.tensor([-5.0, -4.0])
    assert rpgan_d(real, fake) < 0.01 and rpgan_g(real, fake) > 8
    assert torch.allclose(rpgan_d(real, fake), rpgan_g(fake, real))
    # only the difference matters: shifting both logits changes nothing
    assert torch.allclose(rpgan_d(real + 7, fake + 7), rpgan_d(real, fake))


def test_hinge_loss_is_zero_once_d_separates_by_the_margin():
    from ganstudio.losses import get_loss

    loss_d, loss_g, needs_real = get_loss("hinge")
    assert not needs_real
    assert loss_d(torch.tensor([1.5, 2.0]), torch.tensor([-1.0, -3.0])).item() == 0.0
    assert loss_d(torch.tensor([0.0]), torch.tensor([0.0])).item() == 2.0
    assert loss_g(None, torch.tensor([1.0, 3.0])).item() == -2.0
