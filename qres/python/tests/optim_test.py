"""qres.optim's optimizers: every golden trajectory bit for bit (the C++ library's golden test,
replayed through Python), torch.optim's conventions (param groups, lr schedulers, state_dict through
torch.save and torch.load(weights_only=True), zero_grad), and the C++ library's errors."""
import glob
import inspect
import io
import os
import unittest
import zlib

import sys

import torch

import qres

sys.path.insert(0, "tools/golden")
from make_golden import hashed_uniform  # noqa: E402  the big tensor's inputs, which the file does not store

GOLDEN = sorted(glob.glob("qres/tests/golden/*.pt"))


def parse_options(text):
    return dict(part.split("=", 1) for part in text.split(",")) if text else {}


def typed(cls, options):
    """The train tool's "key=value" texts as `cls`'s keyword arguments, of the types its signature gives."""
    parameters = inspect.signature(cls).parameters
    result = {}
    for key, text in options.items():
        kind = str(parameters[key].annotation)
        if "Tuple" in kind:
            result[key] = tuple(float(v) for v in text.split(":"))
        elif kind == "bool":
            result[key] = {"true": True, "false": False}[text]
        elif kind == "int":
            result[key] = int(text)
        elif "float" in kind:
            result[key] = float(text)
        else:
            result[key] = text
    return result


class GoldenTrajectories(unittest.TestCase):
    def test_every_case_bit_for_bit(self):
        self.assertEqual(len(GOLDEN), 37)
        for path in GOLDEN:
            with self.subTest(case=os.path.basename(path)):
                self.replay(torch.load(path, weights_only=False))

    def replay(self, golden):
        n, steps, every = golden["num_tensors"], golden["steps"], golden["snapshot_every"]
        params = [golden[f"init{i}"].clone() for i in range(n)]
        targets = [golden[f"target{i}"] for i in range(n)]
        big = "big_numel" in golden
        if big:
            seed, numel = golden["big_seed"], golden["big_numel"]
            params.append(hashed_uniform(seed, numel))
            targets.append(hashed_uniform(seed + 1, numel))
            big_noise = hashed_uniform(seed + 2, numel) * 0.05
        options = parse_options(golden["optim_params"])
        options.update(parse_options(golden["quant_params"]))
        cls = getattr(qres.optim, {"stdSGD": "StdSGD"}.get(golden["algorithm"], golden["algorithm"]))
        if "qp" in inspect.signature(cls).parameters:  # the quantizing ones
            options.update(qp=str(golden["qp"]), batches_per_epoch=str(golden["batches_per_epoch"]),
                           epochs=str(golden["epochs"]))
        optimizer = qres.optim.create(golden["algorithm"], params, lr=golden["lr"], **typed(cls, options))
        curvature, zero_mask = golden["curvature"], golden["zero_mask"]
        for step in range(steps):
            if "lrs" in golden:
                for group in optimizer.param_groups:
                    group["lr"] = golden["lrs"][step].item()
            if big:
                params[-1].grad = (params[-1] - targets[-1]) * curvature[n].item() + \
                    big_noise * golden["noise_scale"][step].item()
            for i in range(n):
                params[i].grad = torch.zeros_like(params[i]) if zero_mask[i] else \
                    (params[i] - targets[i]) * curvature[i].item() + golden[f"noise{i}"][step]
            optimizer.step()
            self.assertEqual(optimizer.index, golden["index"][step].item(), f"index after step {step + 1}")
            if (step + 1) % every:
                continue
            if big:
                crc = zlib.crc32(params[-1].numpy().tobytes())
                self.assertEqual(crc, golden["big_crc32"][(step + 1) // every - 1].item(),
                                 f"the big tensor after step {step + 1}")
            for i in range(n):
                # bit for bit; NaN where the file has NaN (the nonfinite cases)
                self.assertTrue(torch.allclose(params[i], golden[f"param{i}/step{step + 1}"], rtol=0, atol=0,
                                               equal_nan=True),
                                f"tensor {i} after step {step + 1}")


class AgainstTorchOptim(unittest.TestCase):
    """The cases whose arithmetic is torch.optim's (qres follows ATen's ops op for op, so their bits
    depend on the CPU): checked against torch.optim itself, here and now."""

    def test_same_bits_as_torch_optim(self):
        # (SGD is qres's own arithmetic, checked by the golden files: its loops fuse where ATen's
        # vector kernels do, which ATen's scalar kernels do not.)
        cases = [
            (lambda ps: qres.optim.AdamW(ps, lr=1e-2, form="torch"), lambda ps: torch.optim.AdamW(ps, lr=1e-2)),
            (lambda ps: qres.optim.AdamW(ps, lr=1e-3, form="torch", weight_decay=0.1, betas=(0.8, 0.9)),
             lambda ps: torch.optim.AdamW(ps, lr=1e-3, weight_decay=0.1, betas=(0.8, 0.9))),
        ]
        for number, (ours, theirs) in enumerate(cases):
            with self.subTest(case=number):
                runs = []
                for make in (ours, theirs):
                    generator = torch.Generator().manual_seed(number)
                    params = [torch.randn(shape, generator=generator).requires_grad_()
                              for shape in ((5, 7), (7,), (300,))]
                    targets = [torch.randn(p.shape, generator=generator) for p in params]
                    optimizer = make(params)
                    for _ in range(20):
                        for p, t in zip(params, targets):
                            p.grad = (p.detach() - t) * 0.3
                        optimizer.step()
                    runs.append(params)
                self.assertTrue(all(torch.equal(a, b) for a, b in zip(*runs)))


def quadratic_problem(seed=0):
    generator = torch.Generator().manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.3)
    x = torch.randn(32, 8, generator=generator)
    y = torch.randn(32, 4, generator=generator)

    def loss_fn(module=model, rows=slice(None)):
        return torch.nn.functional.mse_loss(module(x[rows]), y[rows])
    return model, loss_fn


def half(rank):
    """Rank `rank`'s half of the quadratic problem's batch of 32."""
    return slice(16 * rank, 16 * rank + 16)


def train(loss_fn, optimizer, steps, scheduler=None):
    for _ in range(steps):
        optimizer.zero_grad()
        loss_fn().backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()


class TorchOptimConventions(unittest.TestCase):
    def test_loss_falls_and_index_rises(self):
        model, loss_fn = quadratic_problem()
        optimizer = qres.optim.QtAdamW(model.parameters(), lr=1e-2, weight_decay=0.01)
        before = loss_fn().item()
        train(loss_fn, optimizer, 50)
        self.assertLess(loss_fn().item(), before * 0.5)
        self.assertGreater(optimizer.index, 0)

    def test_state_dict_survives_torch_load_weights_only(self):
        for cls, options in ((qres.optim.QtAdamW, {}), (qres.optim.QSGD, {"momentum": 0.9}),
                             (qres.optim.QtAdam, {"schedule": "log", "epochs": 2, "batches_per_epoch": 10})):
            with self.subTest(optimizer=cls.__name__):
                model, loss_fn = quadratic_problem()
                optimizer = cls(model.parameters(), lr=1e-2, **options)
                train(loss_fn, optimizer, 7)
                buffer = io.BytesIO()
                torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, buffer)
                train(loss_fn, optimizer, 5)
                expected = [p.clone() for p in model.parameters()]

                buffer.seek(0)
                saved = torch.load(buffer, weights_only=True)
                model2, loss_fn2 = quadratic_problem()
                model2.load_state_dict(saved["model"])
                optimizer2 = cls(model2.parameters(), lr=1e-2, **options)
                optimizer2.load_state_dict(saved["optimizer"])
                shared = optimizer2.state[next(iter(model2.parameters()))]
                self.assertEqual(shared["qres_quantizer"].dtype, torch.int64)  # not cast to float32
                self.assertEqual(shared["step"].dtype, torch.int64)
                train(loss_fn2, optimizer2, 5)
                for a, b in zip(expected, model2.parameters()):
                    self.assertTrue(torch.equal(a, b))
                self.assertEqual(optimizer.index, optimizer2.index)

    def test_param_groups_with_their_own_options_and_a_scheduler(self):
        model, loss_fn = quadratic_problem()
        first, second = list(model[0].parameters()), list(model[2].parameters())
        optimizer = qres.optim.QtAdamW([{"params": first}, {"params": second, "lr": 1e-3, "weight_decay": 0.1}],
                                       lr=1e-2)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5)
        train(loss_fn, optimizer, 7, scheduler)
        self.assertEqual(optimizer.param_groups[0]["lr"], 1e-2 * 0.25)
        self.assertEqual(optimizer.param_groups[1]["lr"], 1e-3 * 0.25)
        self.assertTrue(all(int(optimizer.state[p]["step"]) == 7 for p in first + second))

    def test_a_group_added_after_steps_steps_too(self):
        model, loss_fn = quadratic_problem()
        optimizer = qres.optim.QtAdamW(model[0].parameters(), lr=1e-2, scope="per_tensor", qp=1)
        train(loss_fn, optimizer, 3)
        optimizer.add_param_group({"params": model[2].parameters()})
        before = [p.clone() for p in model[2].parameters()]
        train(loss_fn, optimizer, 3)
        self.assertTrue(all(not torch.equal(a, b) for a, b in zip(before, model[2].parameters())))
        self.assertTrue(all(int(optimizer.state[p]["step"]) == 3 for p in model[2].parameters()))

    def test_a_parameter_without_gradient_is_left_alone(self):
        model, loss_fn = quadratic_problem()
        frozen = model[2].bias
        frozen.requires_grad_(False)
        before = frozen.clone()
        optimizer = qres.optim.QSGD(model.parameters(), lr=1e-2, momentum=0.9)
        train(loss_fn, optimizer, 3)
        self.assertTrue(torch.equal(frozen, before))
        self.assertNotIn(frozen, optimizer.state)  # as torch.optim: no state for a parameter never stepped

    def test_same_bits_as_a_second_run(self):
        results = []
        for _ in range(2):
            model, loss_fn = quadratic_problem()
            train(loss_fn, qres.optim.QtAdamW(model.parameters(), lr=1e-2, rounding="stochastic", seed=3), 10)
            results.append([p.clone() for p in model.parameters()])
        self.assertTrue(all(torch.equal(a, b) for a, b in zip(*results)))


class CustomOperator(unittest.TestCase):
    def test_opcheck(self):
        """torch.library.opcheck: the schema's alias annotations match what the step writes, the
        fake kernel agrees with the real one, and AOT dispatch handles it."""
        for algorithm, states in (("QtAdamW", 2), ("QSGD", 1)):
            with self.subTest(algorithm=algorithm):
                params = [torch.ones(4), torch.ones(3)]
                grads = [torch.full((4,), 0.5), torch.full((3,), -0.25)]
                state0 = [torch.zeros(4), torch.zeros(3)]
                state1 = [torch.zeros(4), torch.zeros(3)] if states == 2 else []
                steps = [torch.ones((), dtype=torch.int64) for _ in params]  # not a first step
                quantizer = torch.zeros(5, dtype=torch.int64)
                index = torch.zeros(1, dtype=torch.float64)
                options = ["momentum=0.9"] if algorithm == "QSGD" else [""]
                numbers = torch.tensor([[0.1, 0.01]], dtype=torch.float64)  # lr, weight_decay
                results = torch.library.opcheck(
                    torch.ops.qres.step_.default,
                    (algorithm, options, numbers, ["weight_decay"], [2], "", 2, 0, 0, [], params, grads, state0,
                     state1, steps, quantizer, index))
                self.assertEqual(set(results.values()), {"SUCCESS"}, results)

    def test_compiled_step_equals_eager(self):
        for cls, options in ((qres.optim.QtAdamW, {"weight_decay": 0.01}),
                             (qres.optim.QtAdam, {"schedule": "log", "epochs": 1, "batches_per_epoch": 8}),
                             (qres.optim.QSGD, {"momentum": 0.9})):
            with self.subTest(optimizer=cls.__name__):
                runs = []
                for compiled in (False, True):
                    model, loss_fn = quadratic_problem()
                    optimizer = cls(model.parameters(), lr=1e-2, **options)
                    step = torch.compile(optimizer.step, fullgraph=True) if compiled else optimizer.step
                    for _ in range(6):
                        optimizer.zero_grad()
                        loss_fn().backward()
                        step()
                    runs.append([p.detach().clone() for p in model.parameters()] + [torch.tensor(optimizer.index)])
                for eager, compiled in zip(*runs):
                    self.assertTrue(torch.equal(eager, compiled))


def ddp_worker(rank, world_size, store_path, out_path):
    """One rank of a 2-process DDP run on its half of the batch; rank 0 saves its weights."""
    import torch.distributed as dist
    dist.init_process_group("gloo", init_method=f"file://{store_path}", rank=rank, world_size=world_size)
    model, loss_fn = quadratic_problem()
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    optimizer = qres.optim.QtAdamW(ddp.parameters(), lr=1e-2, rounding="stochastic", seed=5)
    train(lambda: loss_fn(ddp, half(rank)), optimizer, 6)
    torch.save([p.detach().clone() for p in model.parameters()] + [torch.tensor(optimizer.index)],
               f"{out_path}.{rank}")
    dist.destroy_process_group()


class DataParallel(unittest.TestCase):
    def test_two_gloo_processes_equal_one(self):
        """DDP averages the ranks' gradients as g0/2 + g1/2 (each bucket divided by the world size,
        then summed); one process doing the same sum steps to the same bits."""
        import tempfile
        import torch.multiprocessing as mp
        with tempfile.TemporaryDirectory() as work:
            out = os.path.join(work, "weights")
            mp.spawn(ddp_worker, args=(2, os.path.join(work, "store"), out), nprocs=2, join=True)
            ranks = [torch.load(f"{out}.{rank}", weights_only=True) for rank in (0, 1)]
        model, loss_fn = quadratic_problem()
        params = list(model.parameters())
        optimizer = qres.optim.QtAdamW(params, lr=1e-2, rounding="stochastic", seed=5)
        for _ in range(6):
            halves = []
            for rank in (0, 1):
                optimizer.zero_grad()
                loss_fn(model, half(rank)).backward()
                halves.append([p.grad.clone() for p in params])
            for p, g0, g1 in zip(params, *halves):
                p.grad = g0 / 2 + g1 / 2
            optimizer.step()
        alone = [p.detach() for p in params] + [torch.tensor(optimizer.index)]
        for rank in (0, 1):
            self.assertEqual(len(ranks[rank]), len(alone))
            for a, b in zip(ranks[rank], alone):
                self.assertTrue(torch.equal(a, b), f"rank {rank}")


class Errors(unittest.TestCase):
    def test_bad_options_say_what_the_cpp_library_says(self):
        model, _ = quadratic_problem()
        cases = [
            (qres.optim.QtAdamW, {"rounding": "sideways"}, "rounding"),
            (qres.optim.QtAdamW, {"eps": 0.0}, "eps"),
            (qres.optim.QSGD, {"momentum": 1.5}, "momentum"),
            (qres.optim.QtAdamW, {"index_limit": 70}, "index_limit=70 is out of range"),
            (qres.optim.QtAdamW, {"schedule": "bump", "eta": 64.0}, "eta is an option of schedule=log"),
        ]
        for cls, options, message in cases:
            with self.subTest(options=options):
                with self.assertRaises(ValueError) as raised:
                    cls(model.parameters(), lr=1e-3, **options)
                self.assertIn(message, str(raised.exception))
                self.assertEqual(len(str(raised.exception).strip().splitlines()), 1, str(raised.exception))

    def test_state_saved_with_other_quantizer_options_is_refused(self):
        model, loss_fn = quadratic_problem()
        optimizer = qres.optim.QtAdamW(model.parameters(), lr=1e-2, qp=2)
        train(loss_fn, optimizer, 2)
        other = qres.optim.QtAdamW(model.parameters(), lr=1e-2, qp=3)
        with self.assertRaisesRegex(ValueError, "saved with .*'qp': 2.*not with this optimizer's .*'qp': 3"):
            other.load_state_dict(optimizer.state_dict())

    def test_a_bad_group_option_is_refused_when_the_group_is_added(self):
        model, _ = quadratic_problem()
        optimizer = qres.optim.QtAdamW(model[0].parameters(), lr=1e-3)
        with self.assertRaisesRegex(TypeError, "betas='0.9' must be a pair"):
            optimizer.add_param_group({"params": model[2].parameters(), "betas": "0.9"})
        with self.assertRaisesRegex(ValueError, "eps=-1"):
            optimizer.add_param_group({"params": model[2].parameters(), "eps": -1.0})
        self.assertEqual(len(optimizer.param_groups), 1)

    def test_a_sparse_gradient_is_refused(self):
        embedding = torch.nn.Embedding(10, 3, sparse=True)
        optimizer = qres.optim.QtAdamW(embedding.parameters(), lr=0.1)
        embedding(torch.tensor([1, 2])).sum().backward()
        with self.assertRaisesRegex(ValueError, "QtAdamW: parameter 0 has a sparse gradient"):
            optimizer.step()

    def test_unknown_algorithm(self):
        with self.assertRaisesRegex(ValueError, "unknown algorithm 'Lion'"):
            qres.optim.create("Lion", [torch.zeros(2, requires_grad=True)])


if __name__ == "__main__":
    unittest.main(verbosity=2)
