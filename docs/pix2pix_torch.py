"""The PyTorch models this project is checked and benchmarked against, in one place: the generator
and discriminator of "Colorizing black & white images with U-Net and conditional GAN - A Tutorial"
(Moein Shariatnia, 2020), which models/unet.ts and models/patchgan.ts rebuild module for module, and
the initialisation of models/init.ts. Used by docs/export_pytorch.py and bench/pytorch_ref.py.
"""

import torch
from torch import nn


# The generator of "Colorizing black & white images with U-Net and conditional GAN - A Tutorial"
# (Moein Shariatnia, 2020), unchanged.
class UnetBlock(nn.Module):
    def __init__(self, nf, ni, submodule=None, input_c=None, dropout=False, innermost=False, outermost=False):
        super().__init__()
        self.outermost = outermost
        if input_c is None:
            input_c = nf
        downconv = nn.Conv2d(input_c, ni, kernel_size=4, stride=2, padding=1, bias=False)
        downrelu = nn.LeakyReLU(0.2, True)
        downnorm = nn.BatchNorm2d(ni)
        uprelu = nn.ReLU(True)
        upnorm = nn.BatchNorm2d(nf)
        if outermost:
            upconv = nn.ConvTranspose2d(ni * 2, nf, kernel_size=4, stride=2, padding=1)
            down = [downconv]
            up = [uprelu, upconv, nn.Tanh()]
            model = down + [submodule] + up
        elif innermost:
            upconv = nn.ConvTranspose2d(ni, nf, kernel_size=4, stride=2, padding=1, bias=False)
            down = [downrelu, downconv]
            up = [uprelu, upconv, upnorm]
            model = down + up
        else:
            upconv = nn.ConvTranspose2d(ni * 2, nf, kernel_size=4, stride=2, padding=1, bias=False)
            down = [downrelu, downconv, downnorm]
            up = [uprelu, upconv, upnorm]
            if dropout:
                up += [nn.Dropout(0.5)]
            model = down + [submodule] + up
        self.model = nn.Sequential(*model)

    def forward(self, x):
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class Unet(nn.Module):
    def __init__(self, input_c=1, output_c=2, n_down=8, num_filters=64):
        super().__init__()
        unet_block = UnetBlock(num_filters * 8, num_filters * 8, innermost=True)
        for _ in range(n_down - 5):
            unet_block = UnetBlock(num_filters * 8, num_filters * 8, submodule=unet_block, dropout=True)
        out_filters = num_filters * 8
        for _ in range(3):
            unet_block = UnetBlock(out_filters // 2, out_filters, submodule=unet_block)
            out_filters //= 2
        self.model = UnetBlock(output_c, out_filters, input_c=input_c, submodule=unet_block, outermost=True)

    def forward(self, x):
        return self.model(x)


class PatchDiscriminator(nn.Module):
    """The 70x70 PatchGAN: C(ndf) - C(2ndf) - C(4ndf) - C(8ndf, stride 1) - C1, batch norm inside."""

    def __init__(self, input_c=3, num_filters=64, n_down=3):
        super().__init__()
        layers = [self.block(input_c, num_filters, norm=False)]
        for i in range(n_down):
            stride = 1 if i == n_down - 1 else 2
            layers.append(self.block(num_filters * 2**i, num_filters * 2 ** (i + 1), s=stride))
        layers.append(self.block(num_filters * 2**n_down, 1, s=1, norm=False, act=False))
        self.model = nn.Sequential(*layers)

    @staticmethod
    def block(ni, nf, k=4, s=2, p=1, norm=True, act=True):
        layers = [nn.Conv2d(ni, nf, k, s, p, bias=not norm)]
        if norm:
            layers.append(nn.BatchNorm2d(nf))
        if act:
            layers.append(nn.LeakyReLU(0.2, True))
        return nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


def init_weights(net, gain=0.02):
    """models/init.ts: N(0, gain) for conv weights, N(1, gain) for norm weights, zero biases."""
    for name, p in net.named_parameters():
        with torch.no_grad():
            if name.endswith(".bias"):
                p.zero_()
            elif p.dim() == 1:
                p.normal_(1.0, gain)
            else:
                p.normal_(0.0, gain)
