"""The classic PyTorch VAE example (pytorch/examples vae/main.py), kept as published.

Only what the benchmark needs is changed: the data root is a parameter, the
per-epoch image files are not written, and progress is not printed. The model,
loss, optimiser, DataLoader and loop are the example's own.
"""
import time

import torch
import torch.nn.functional as F
from torch import nn, optim
from torchvision import datasets, transforms


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


# Reconstruction + KL divergence losses summed over all elements and batch
def loss_function(recon_x, x, mu, logvar):
    BCE = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
    # see Appendix B from VAE paper: Kingma and Welling. ICLR, 2014
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return BCE + KLD


def run(root, epochs=10, seed=1, on_epoch=None):
    """Train as the example does; call on_epoch(epoch, seconds, test_loss) after each test pass."""
    model = None
    for epoch, seconds, test_loss, model in run_epochs(root, epochs, seed):
        if on_epoch is not None:
            on_epoch(epoch, seconds, test_loss)
    return model


def run_epochs(root, epochs=10, seed=1):
    """The example's loop, one epoch per next(): yields (epoch, seconds, test_loss, model) after each test pass,
    so that a benchmark can interleave its epochs with another's."""
    torch.manual_seed(seed)
    train_loader = torch.utils.data.DataLoader(
        datasets.MNIST(root, train=True, download=False, transform=transforms.ToTensor()),
        batch_size=128, shuffle=True)
    test_loader = torch.utils.data.DataLoader(
        datasets.MNIST(root, train=False, transform=transforms.ToTensor()),
        batch_size=128, shuffle=False)
    model = VAE()
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        model.train()
        for data, _ in train_loader:
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(data)
            loss = loss_function(recon_batch, data, mu, logvar)
            loss.backward()
            optimizer.step()
        model.eval()
        test_loss = 0
        with torch.no_grad():
            for data, _ in test_loader:
                recon_batch, mu, logvar = model(data)
                test_loss += loss_function(recon_batch, data, mu, logvar).item()
        test_loss /= len(test_loader.dataset)
        yield epoch, time.perf_counter() - start, test_loss, model


if __name__ == "__main__":  # run as the example is run, from the shell: python classic_vae.py ROOT [EPOCHS]
    import sys

    run(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10,
        on_epoch=lambda e, s, loss: print(f"epoch {e}: {s:.2f} s, test loss {loss:.2f}", flush=True))
