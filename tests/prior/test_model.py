"""The network's text paths and the training loss's pixel weights, against hand-computed values."""

import numpy as np
import torch

from chord_core.prior.model import MiniPriorNet, PriorConfig
from chord_core.prior.training import MOVING_THRESHOLD, flow_matching_loss, moving_pixel_weights
from chord_core.prior.vocabulary import CLS, PAD, tokenize

PLAIN = PriorConfig(channels=(16, 32), blocks_per_level=1, text_width=32, text_layers=1, embedding=64,
                    text_attention_levels=0)
ATTENDING = PriorConfig(**{**PLAIN.to_dict(), "channels": (16, 32), "text_attention_levels": 1})


def _inputs(batch: int = 2):
    gen = torch.Generator().manual_seed(0)
    z = torch.randn((batch, 3, 5, 16, 16), generator=gen)
    first = torch.rand((batch, 3, 16, 16), generator=gen) * 2 - 1
    tokens = torch.as_tensor(np.stack([tokenize("slide the box to the left"), tokenize("slide the box to the right")]))
    return z, torch.tensor([0.3, 0.7]), first, tokens[:batch]


def test_new_cross_attention_starts_as_the_identity():
    plain = MiniPriorNet(PLAIN)
    for p in plain.parameters():  # non-zero output layers so the comparison sees the whole network
        p.data.normal_(0, 0.05, generator=torch.Generator().manual_seed(p.numel()))
    attending = MiniPriorNet(ATTENDING)
    missing, unexpected = attending.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(".cross." in name for name in missing)
    args = _inputs()
    with torch.no_grad():
        torch.testing.assert_close(attending(*args), plain(*args))


def test_cross_attention_reads_the_words_and_ignores_padding():
    net = MiniPriorNet(ATTENDING)
    for block in (b for blocks in (*net.down_blocks, *net.up_blocks) for b in blocks if b.cross is not None):
        block.cross.attention.out_proj.weight.data.normal_(0, 0.2, generator=torch.Generator().manual_seed(1))
    text = net.text(_inputs()[3])
    block = net.down_blocks[-1][0]
    x = torch.randn(2 * 5, 32, 8, 8, generator=torch.Generator().manual_seed(2))
    tokens = _inputs()[3]
    with torch.no_grad():
        left_right = block.cross(x, text, tokens == PAD, 5)
        # a padding position's features changed: the masked attention must not see it
        poisoned = text.clone()
        poisoned[tokens == PAD] = 100.0
        torch.testing.assert_close(block.cross(x, poisoned, tokens == PAD, 5), left_right)
    # the two captions differ in one word, so the cells of their clips differ
    assert not torch.allclose(left_right[:5] - x[:5], left_right[5:] - x[5:], atol=1e-4)


def test_cls_alone_is_the_unconditional_branch_for_attention_too():
    tokens = torch.full((1, 24), PAD)
    tokens[0, 0] = CLS
    net = MiniPriorNet(ATTENDING)
    z, tau, first, _ = _inputs(1)
    with torch.no_grad():
        out = net(z, tau[:1], first, tokens)
    assert torch.isfinite(out).all()


def test_moving_pixel_weights_mark_the_pixels_an_object_crosses():
    x = -torch.ones(1, 3, 4, 8, 8)
    x[:, :, :, 2, 1] = 0.5                       # a still dark-ish pixel: never weighted up
    for frame in range(4):                        # a square walking right one column per frame
        x[:, :, frame, 4:6, 1 + frame:3 + frame] = 1.0
    x[:, 0, 3, 0, 7] = -1 + 0.9 * MOVING_THRESHOLD  # a change below the threshold
    weights = moving_pixel_weights(x, moving_weight=9.0)
    crossed = torch.zeros(8, 8, dtype=torch.bool)
    crossed[4:6, 1:6] = True                      # every column it leaves or reaches
    expected = torch.where(crossed, 10.0, 1.0)
    expected /= expected.mean()
    torch.testing.assert_close(weights[0, 0, 0], expected)


def test_weighted_loss_is_the_weighted_mean_of_squared_errors():
    net = MiniPriorNet(PLAIN)
    for p in net.parameters():
        p.data.normal_(0, 0.05, generator=torch.Generator().manual_seed(p.numel()))
    z, _, first, tokens = _inputs()
    x = torch.tanh(z)
    sigma, eps = torch.tensor([0.2, 0.6]), torch.randn(x.shape, generator=torch.Generator().manual_seed(3))
    ones = torch.ones(2, 1, 1, 16, 16)
    with torch.no_grad():
        plain = flow_matching_loss(net, x, tokens, sigma, eps, 3.0)
        torch.testing.assert_close(flow_matching_loss(net, x, tokens, sigma, eps, 3.0, ones), plain)
        weights = torch.rand(2, 1, 1, 16, 16, generator=torch.Generator().manual_seed(4))
        tau = 3.0 * sigma / (1 + 2.0 * sigma)  # Wan's shift, written out
        t = tau[:, None, None, None, None]
        error = (net((1 - t) * x + t * eps, tau, x[:, :, 0], tokens) - (eps - x)).square().double()
        expected = (error * weights.double()).mean()
        assert abs(float(flow_matching_loss(net, x, tokens, sigma, eps, 3.0, weights)) - float(expected)) < 1e-5
