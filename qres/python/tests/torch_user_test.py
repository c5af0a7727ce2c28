"""qres.optim as a PyTorch user holds it: torch's schedulers (OneCycleLR, CyclicLR with momentum,
SWALR), named_parameters, a param group's own keys, every option visible (signature, defaults,
help, repr, type hints), maximize, a tensor lr in eager and under torch.compile with a scheduler,
pickling and torch.save of the optimizer, and torch.optim's state loaded both ways."""
import copy
import inspect
import io
import os
import pickle
import typing
import unittest

import torch
from torch._dynamo.utils import counters

import qres

ALL = (qres.optim.QtAdamW, qres.optim.QtAdam, qres.optim.QSGD, qres.optim.AdamW, qres.optim.SGD, qres.optim.StdSGD)


def problem(seed=0):
    generator = torch.Generator().manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.4)
    x, y = torch.randn(16, 6, generator=generator), torch.randn(16, 3, generator=generator)
    return net, lambda: torch.nn.functional.mse_loss(net(x), y)


def train(optimizer, loss_fn, steps, scheduler=None, step=None):
    for _ in range(steps):
        optimizer.zero_grad()
        loss_fn().backward()
        (step or optimizer.step)()
        if scheduler is not None:
            scheduler.step()


def same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b))


class Schedulers(unittest.TestCase):
    def test_one_cycle_and_cyclic_cycle_momentum_as_torch_does(self):
        """OneCycleLR and CyclicLR cycle betas[0] (Adam family) or momentum (SGD family) where
        torch.optim's would, and the step uses the cycled values."""
        for cls, key in ((qres.optim.QtAdamW, "betas"), (qres.optim.AdamW, "betas"), (qres.optim.QSGD, "momentum"),
                         (qres.optim.SGD, "momentum")):
            for make in (lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.05, total_steps=20),
                         lambda o: torch.optim.lr_scheduler.CyclicLR(o, 0.001, 0.02, step_size_up=4)):
                with self.subTest(optimizer=cls.__name__, scheduler=make):
                    net, loss_fn = problem()
                    optimizer = cls(net.parameters(), lr=0.01)
                    scheduler = make(optimizer)
                    seen = set()
                    for _ in range(6):
                        train(optimizer, loss_fn, 1, scheduler)
                        value = optimizer.param_groups[0][key]
                        seen.add(value[0] if key == "betas" else value)
                    self.assertGreater(len(seen), 3)
                    if isinstance(scheduler, torch.optim.lr_scheduler.OneCycleLR):
                        self.assertIn("max_lr", optimizer.param_groups[0])  # torch's own keys stay in the group
                    # The cycled momentum is the one the step uses: the same as setting it by hand.
                    twin_net, twin_loss = problem()
                    twin_net.load_state_dict(net.state_dict())
                    twin = cls(twin_net.parameters(), lr=0.01)
                    twin.load_state_dict(copy.deepcopy(optimizer.state_dict()))
                    train(optimizer, loss_fn, 1)
                    twin.param_groups[0][key] = optimizer.param_groups[0][key]
                    train(twin, twin_loss, 1)
                    self.assertTrue(same(net.parameters(), twin_net.parameters()))

    def test_swalr_and_every_lr_scheduler_keep_their_keys(self):
        net, loss_fn = problem()
        optimizer = qres.optim.QtAdamW(net.parameters(), lr=0.01)
        swa = torch.optim.swa_utils.SWALR(optimizer, swa_lr=0.05, anneal_epochs=3)
        train(optimizer, loss_fn, 4, swa)
        self.assertAlmostEqual(optimizer.param_groups[0]["lr"], 0.05)
        self.assertEqual(optimizer.param_groups[0]["swa_lr"], 0.05)


class NamedParametersAndGroupKeys(unittest.TestCase):
    def test_named_parameters_train_save_and_load(self):
        net, loss_fn = problem()
        optimizer = qres.optim.QtAdamW(net.named_parameters(), lr=0.01)
        train(optimizer, loss_fn, 3)
        saved = optimizer.state_dict()
        self.assertEqual(saved["param_groups"][0]["param_names"], [name for name, _ in net.named_parameters()])
        twin_net, twin_loss = problem()
        twin_net.load_state_dict(net.state_dict())
        twin = qres.optim.QtAdamW(twin_net.named_parameters(), lr=0.01)
        twin.load_state_dict(copy.deepcopy(saved))
        train(optimizer, loss_fn, 2)
        train(twin, twin_loss, 2)
        self.assertTrue(same(net.parameters(), twin_net.parameters()))

    def test_a_users_own_group_keys_are_kept(self):
        net, loss_fn = problem()
        optimizer = qres.optim.QSGD([{"params": net[0].parameters(), "name": "encoder", "freeze_after": 3},
                                     {"params": net[2].parameters(), "name": "head"}], lr=0.01)
        train(optimizer, loss_fn, 2)
        self.assertEqual([g["name"] for g in optimizer.param_groups], ["encoder", "head"])
        self.assertEqual(optimizer.state_dict()["param_groups"][0]["freeze_after"], 3)


class VisibleOptions(unittest.TestCase):
    def test_defaults_hold_every_option_of_the_signature_with_its_default(self):
        for cls in ALL:
            with self.subTest(optimizer=cls.__name__):
                optimizer = cls([torch.zeros(2, requires_grad=True)])
                signature = inspect.signature(cls)
                options = [name for name in signature.parameters
                           if name not in ("params", "foreach", "fused", "capturable", "differentiable")]
                self.assertEqual(sorted(optimizer.defaults), sorted(options))
                for name in options:
                    default = signature.parameters[name].default
                    if default is not None:  # eps and weight_decay: None takes the form's value
                        self.assertEqual(optimizer.defaults[name], default, name)
        self.assertEqual(qres.optim.QtAdamW([torch.zeros(1)]).defaults["eps"], 1e-6)
        torch_form = qres.optim.AdamW([torch.zeros(1)], form="torch")
        self.assertEqual((torch_form.defaults["eps"], torch_form.defaults["weight_decay"]), (1e-8, 0.01))
        group = qres.optim.AdamW([{"params": [torch.zeros(1)], "form": "torch"}]).param_groups[0]
        self.assertEqual((group["eps"], group["weight_decay"]), (1e-8, 0.01))  # a group's form brings its defaults

    def test_the_python_defaults_are_the_cpp_librarys(self):
        """The description the C++ library makes of each optimizer with no options given equals the one
        made of every option spelled out with the Python defaults."""
        for cls in ALL:
            with self.subTest(optimizer=cls.__name__):
                optimizer = cls([torch.zeros(2, requires_grad=True)])
                cpp_defaults = torch.ops.qres.describe(cls.algorithm, "", torch.tensor([1e-3], dtype=torch.float64),
                                                       [], "", 0, 0, 0)
                self.assertEqual(optimizer.description, cpp_defaults)

    def test_help_repr_and_type_hints(self):
        for cls in ALL:
            with self.subTest(optimizer=cls.__name__):
                doc = inspect.getdoc(cls)
                self.assertGreater(len(doc.splitlines()), 6)
                self.assertIn("maximize", doc)
                hints = typing.get_type_hints(cls.__init__)
                self.assertIn("lr", hints)
                optimizer = cls([torch.zeros(2, requires_grad=True)], lr=0.5)
                text = repr(optimizer)
                self.assertTrue(text.startswith(cls.__name__ + " ("))
                for key in optimizer.defaults:
                    self.assertIn(f"    {key}: ", text)
        self.assertIn("form=\"torch\"", inspect.getdoc(qres.optim.QtAdamW))  # where it differs from torch.optim
        self.assertTrue(os.path.exists(os.path.join(os.path.dirname(qres.optim.__file__), "py.typed")))


class Maximize(unittest.TestCase):
    def test_maximize_is_descent_on_the_negated_gradient_and_leaves_grad_alone(self):
        for cls in ALL:
            with self.subTest(optimizer=cls.__name__):
                runs = []
                for maximize in (False, True):
                    generator = torch.Generator().manual_seed(1)
                    param = torch.randn(50, generator=generator).requires_grad_()
                    optimizer = cls([param], lr=0.05, maximize=maximize)
                    for _ in range(4):
                        grad = torch.randn(50, generator=generator)
                        param.grad = -grad if maximize else grad
                        optimizer.step()
                        self.assertTrue(torch.equal(param.grad, -grad if maximize else grad))
                    runs.append(param.detach())
                self.assertTrue(torch.equal(*runs))


def compiled_run(make, lr, compiled, steps=12):
    torch._dynamo.reset()
    counters.clear()
    net, loss_fn = problem()
    optimizer = make(net.parameters(), lr)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, 0.9)
    train(optimizer, loss_fn, steps, scheduler, torch.compile(optimizer.step) if compiled else None)
    return counters["stats"]["unique_graphs"], [p.detach().clone() for p in net.parameters()]


class TensorLrAndCompile(unittest.TestCase):
    def test_a_float64_tensor_lr_and_betas_step_as_the_same_floats(self):
        runs = []
        for lr, betas in ((0.01, (0.8, 0.99)), (torch.tensor(0.01, dtype=torch.float64),
                                                (torch.tensor(0.8, dtype=torch.float64), torch.tensor(0.99, dtype=torch.float64)))):
            net, loss_fn = problem()
            optimizer = qres.optim.QtAdamW(net.parameters(), lr=lr, betas=betas)
            train(optimizer, loss_fn, 5, torch.optim.lr_scheduler.StepLR(optimizer, 2, 0.5))
            runs.append([p.detach().clone() for p in net.parameters()])
        self.assertTrue(same(*runs))

    def test_a_scheduled_lr_compiles_no_more_graphs_than_torch_optim(self):
        """12 steps under ExponentialLR, a float lr and a tensor lr: at most as many graphs as
        torch.optim.AdamW, and the compiled steps equal the eager ones bit for bit."""
        for lr in (0.01, torch.tensor(0.01)):
            torch_graphs, _ = compiled_run(lambda ps, lr: torch.optim.AdamW(ps, lr=lr), copy.deepcopy(lr), True)
            for make in (lambda ps, lr: qres.optim.QtAdamW(ps, lr=lr), lambda ps, lr: qres.optim.QSGD(ps, lr=lr)):
                with self.subTest(lr=lr):
                    graphs, compiled = compiled_run(make, copy.deepcopy(lr), True)
                    _, eager = compiled_run(make, copy.deepcopy(lr), False)
                    self.assertLessEqual(graphs, torch_graphs)
                    self.assertTrue(same(compiled, eager))
                    if isinstance(lr, torch.Tensor):
                        self.assertEqual(graphs, 1)


class SavingTheOptimizer(unittest.TestCase):
    def test_pickle_and_torch_save_of_the_optimizer_step_on(self):
        generator = torch.Generator().manual_seed(9)
        x, y = torch.randn(16, 6, generator=generator), torch.randn(16, 3, generator=generator)
        for cls in ALL:
            for dump in (lambda o: pickle.loads(pickle.dumps(o)), self.torch_round_trip):
                with self.subTest(optimizer=cls.__name__):
                    net, _ = problem()
                    optimizer = cls(net.parameters(), lr=0.01)
                    loss_of = lambda model: lambda: torch.nn.functional.mse_loss(model(x), y)  # noqa: E731
                    train(optimizer, loss_of(net), 3)
                    twin = dump({"net": net, "optimizer": optimizer})  # together, as torch.save of a checkpoint
                    train(optimizer, loss_of(net), 3)
                    train(twin["optimizer"], loss_of(twin["net"]), 3)
                    self.assertTrue(same(net.parameters(), twin["net"].parameters()))
                    self.assertEqual(optimizer.index, twin["optimizer"].index)

    @staticmethod
    def torch_round_trip(bundle):
        buffer = io.BytesIO()
        torch.save(bundle, buffer)
        buffer.seek(0)
        return torch.load(buffer, weights_only=False)


class DistributedCheckpointApi(unittest.TestCase):
    def test_get_and_set_optimizer_state_dict_round_trip(self):
        """torch.distributed.checkpoint's state_dict API (names for ids, no top-level 'qres' entry) on
        an unsharded model: the loaded optimizer continues bit for bit."""
        from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict, set_optimizer_state_dict
        for cls in (qres.optim.QtAdamW, qres.optim.QSGD):
            with self.subTest(optimizer=cls.__name__):
                net, loss_fn = problem()
                optimizer = cls(net.parameters(), lr=0.01, scope="per_tensor")
                train(optimizer, loss_fn, 3)
                saved = copy.deepcopy(get_optimizer_state_dict(net, optimizer))
                self.assertIn("0.weight", saved["state"])
                twin_net, twin_loss = problem()
                twin_net.load_state_dict(net.state_dict())
                twin = cls(twin_net.parameters(), lr=0.01, scope="per_tensor")
                set_optimizer_state_dict(twin_net, twin, saved)
                train(optimizer, loss_fn, 3)
                train(twin, twin_loss, 3)
                self.assertTrue(same(net.parameters(), twin_net.parameters()))
                self.assertEqual(optimizer.index, twin.index)
                other_net = problem()[0]
                other = cls(other_net.parameters(), lr=0.01, qp=3, scope="per_tensor")
                with self.assertRaisesRegex(ValueError, "saved with .*'qp': 0.*this optimizer's .*'qp': 3"):
                    set_optimizer_state_dict(other_net, other, copy.deepcopy(saved))


class ZeroRedundancy(unittest.TestCase):
    def test_quantized_optimizers_refuse_zero_redundancy_and_say_what_to_use(self):
        """Each rank's quantizer would see only its shard (measured: indices 9 and 10 on two ranks)."""
        import tempfile
        import torch.distributed as dist
        from torch.distributed.optim import ZeroRedundancyOptimizer
        with tempfile.TemporaryDirectory() as work:
            dist.init_process_group("gloo", init_method=f"file://{work}/store", rank=0, world_size=1)
            try:
                net, loss_fn = problem()
                for cls in (qres.optim.QtAdamW, qres.optim.QSGD):
                    with self.assertRaisesRegex(TypeError, f"{cls.algorithm} under ZeroRedundancyOptimizer would "
                                                           "quantize each rank's shard on its own.*use "
                                                           "DistributedDataParallel"):
                        ZeroRedundancyOptimizer(net.parameters(), optimizer_class=cls, lr=0.01)
                # An optimizer that does not quantize shards as torch.optim's do.
                zero = ZeroRedundancyOptimizer(net.parameters(), optimizer_class=qres.optim.AdamW, lr=0.01)
                train(zero, loss_fn, 2)
            finally:
                dist.destroy_process_group()


def run(optimizer, params, steps, seed):
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=generator)
        optimizer.step()


class TorchOptimState(unittest.TestCase):
    PAIRS = [
        (lambda ps: torch.optim.AdamW(ps, lr=1e-2), lambda ps: qres.optim.AdamW(ps, lr=1e-2, form="torch")),
        (lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.1, betas=(0.8, 0.9)),
         lambda ps: qres.optim.AdamW(ps, lr=1e-2, form="torch", weight_decay=0.1, betas=(0.8, 0.9))),
        (lambda ps: torch.optim.SGD(ps, lr=1e-2, momentum=0.9), lambda ps: qres.optim.SGD(ps, lr=1e-2, momentum=0.9)),
        (lambda ps: torch.optim.SGD(ps, lr=1e-2), lambda ps: qres.optim.SGD(ps, lr=1e-2)),
    ]

    def test_torch_optims_state_loads_into_qres_and_back(self):
        for number, (theirs, ours) in enumerate(self.PAIRS):
            for direction in ("torch to qres", "qres to torch"):
                with self.subTest(pair=number, direction=direction):
                    first, then = (theirs, ours) if direction == "torch to qres" else (ours, theirs)
                    generator = torch.Generator().manual_seed(number)
                    a = [torch.randn(5, generator=generator).requires_grad_(),
                         torch.randn(3, 2, generator=generator).requires_grad_()]
                    b = [p.detach().clone().requires_grad_() for p in a]
                    alone, loaded_from = first(a), first(b)
                    run(alone, a, 4, 1)
                    run(loaded_from, b, 4, 1)
                    loaded = then(b)
                    loaded.load_state_dict(copy.deepcopy(loaded_from.state_dict()))
                    run(alone, a, 5, 2)
                    run(loaded, b, 5, 2)
                    self.assertTrue(same(a, b))

    def test_what_cannot_be_converted_says_why(self):
        params = [torch.zeros(3, requires_grad=True)]
        cases = [
            (torch.optim.AdamW(params), qres.optim.AdamW(params), "loads into form='torch'"),
            (torch.optim.AdamW(params, amsgrad=True), qres.optim.AdamW(params, form="torch"), "amsgrad=True"),
            (torch.optim.Adam(params), qres.optim.QtAdamW(params, form="torch"),
             r"torch.optim.Adam \(L2 decay\)'s; QtAdamW's weight decay is decoupled"),
            (torch.optim.RMSprop(params), qres.optim.QtAdamW(params),
             r"neither qres's .* nor torch.optim's Adam or AdamW \(its state holds \['square_avg', 'step'\]\)"),
            (torch.optim.AdamW(params), qres.optim.SGD(params), "nor torch.optim's SGD"),
            (torch.optim.SGD(params, momentum=0.9), qres.optim.StdSGD(params), "momentum=0.9, which stdSGD does not"),
        ]
        for theirs, ours, message in cases:
            with self.subTest(message=message):
                run(theirs, params, 1, 0)
                with self.assertRaisesRegex(ValueError, message):
                    ours.load_state_dict(theirs.state_dict())


if __name__ == "__main__":
    unittest.main(verbosity=1)
