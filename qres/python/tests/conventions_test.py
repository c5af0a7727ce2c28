"""PyTorch's optimizer conventions, checked on qres's optimizers as test/test_optim.py checks
torch.optim's: each optimizer is described by torch.testing's OptimizerInfo (its inputs: option
sets and param groups; its error inputs; the lr schedulers to run under), and generic checks run
over every input: hooks, zero_grad, a step with no gradients, deepcopy, state_dict round trips,
schedulers, errors."""
import copy
import unittest

import torch
from torch.testing._internal.common_optimizers import ErrorOptimizerInput, OptimizerInfo, OptimizerInput

import qres


def adam_inputs(device, dtype=None):
    return [
        OptimizerInput(params=None, kwargs={}, desc="default"),
        OptimizerInput(params=None, kwargs={"lr": 0.01}, desc="non-default lr"),
        OptimizerInput(params=None, kwargs={"weight_decay": 0.1}, desc="weight decay"),
        OptimizerInput(params=None, kwargs={"betas": (0.8, 0.99), "eps": 1e-4}, desc="betas and eps"),
        OptimizerInput(params=None, kwargs={"rounding": "stochastic", "seed": 3}, desc="stochastic rounding"),
        OptimizerInput(params=None, kwargs={"schedule": "log", "epochs": 2, "batches_per_epoch": 4},
                       desc="log schedule"),
        OptimizerInput(params=None, kwargs={"scope": "per_tensor", "qp": 2}, desc="per-tensor index"),
    ]


def sgd_inputs(device, dtype=None):
    return [
        OptimizerInput(params=None, kwargs={"lr": 0.01}, desc="plain"),
        OptimizerInput(params=None, kwargs={"lr": 0.01, "momentum": 0.9, "nesterov": True}, desc="nesterov"),
        OptimizerInput(params=None, kwargs={"lr": 0.01, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.01},
                       desc="dampening and decay"),
        OptimizerInput(params=None, kwargs={"lr": 0.01, "rounding": "nearest_even"}, desc="nearest even"),
    ]


def errors(device, dtype=None):
    error = lambda kwargs, regex, kind=ValueError: ErrorOptimizerInput(  # noqa: E731
        OptimizerInput(params=None, kwargs=kwargs), error_type=kind, error_regex=regex)
    return [
        error({"lr": -1.0}, "lr"),
        error({"rounding": "up"}, "rounding"),
        error({"index_limit": 1000}, "index_limit"),
        error({"typo": 1}, "unexpected keyword argument 'typo'", TypeError),
        error({"qp": 2.5}, "qp=2.5 must be an int", TypeError),
        error({"foreach": True}, "foreach=True is not supported", TypeError),
    ]


def without_quantizer_options(inputs):
    """The inputs of an optimizer that does not quantize: those without quantizer options."""
    return lambda device, dtype=None: [i for i in inputs(device, dtype)
                                       if not any(k in i.kwargs for k in ("rounding", "schedule", "scope"))]


OPTIMIZERS = [
    OptimizerInfo(qres.optim.QtAdamW, optim_inputs_func=adam_inputs, optim_error_inputs_func=errors,
                  supported_impls=(), supports_complex=False),
    OptimizerInfo(qres.optim.QtAdam, optim_inputs_func=adam_inputs, optim_error_inputs_func=errors,
                  supported_impls=(), supports_complex=False),
    OptimizerInfo(qres.optim.QSGD, optim_inputs_func=sgd_inputs, optim_error_inputs_func=errors,
                  supported_impls=(), supports_complex=False),
    OptimizerInfo(qres.optim.AdamW, optim_inputs_func=without_quantizer_options(adam_inputs), supported_impls=(),
                  supports_complex=False),
    OptimizerInfo(qres.optim.SGD, optim_inputs_func=without_quantizer_options(sgd_inputs), supported_impls=(),
                  supports_complex=False),
    OptimizerInfo(qres.optim.StdSGD, optim_inputs_func=lambda device, dtype=None: [
        OptimizerInput(params=None, kwargs={"lr": 0.01}, desc="plain"),
        OptimizerInput(params=None, kwargs={"lr": 0.01, "weight_decay": 0.01}, desc="decay")],
        supported_impls=(), supports_complex=False),
]


def model_and_loss(seed=0):
    generator = torch.Generator().manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(6, 10), torch.nn.Tanh(), torch.nn.Linear(10, 3))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.5)
    x, y = torch.randn(20, 6, generator=generator), torch.randn(20, 3, generator=generator)
    return model, lambda: torch.nn.functional.mse_loss(model(x), y)


def every_input():
    for info in OPTIMIZERS:
        for optim_input in info.optim_inputs_func("cpu"):
            yield info, optim_input


def run(optimizer, loss_fn, steps):
    for _ in range(steps):
        optimizer.zero_grad()
        loss_fn().backward()
        optimizer.step()


class Conventions(unittest.TestCase):
    def each(self):
        for info, optim_input in every_input():
            with self.subTest(optimizer=info.optim_cls.__name__, input=optim_input.desc):
                yield info, optim_input

    def test_loss_falls_with_every_input_and_two_param_groups(self):
        for info, optim_input in self.each():
            model, loss_fn = model_and_loss()
            kwargs = dict(optim_input.kwargs)
            lr = kwargs.pop("lr", 0.01)
            quantizer = {k: kwargs.pop(k) for k in list(kwargs) if k in ("rounding", "seed", "schedule", "epochs",
                                                                           "batches_per_epoch", "scope", "qp")}
            groups = [{"params": model[0].parameters(), **kwargs}, {"params": model[2].parameters(), "lr": lr / 2}]
            optimizer = info.optim_cls(groups, lr=lr, **quantizer)
            before = loss_fn().item()
            run(optimizer, loss_fn, 30)
            self.assertLess(loss_fn().item(), before)

    def test_no_gradients_is_a_no_op(self):
        for info, optim_input in self.each():
            model, _ = model_and_loss()
            optimizer = info.optim_cls(model.parameters(), **optim_input.kwargs)
            before = [p.clone() for p in model.parameters()]
            optimizer.step()
            self.assertTrue(all(torch.equal(a, b) for a, b in zip(before, model.parameters())))
            # as torch.optim: no state for a parameter never stepped (the first one's holds the quantizer's)
            self.assertTrue(all("step" not in optimizer.state.get(p, {}) for p in model.parameters()))

    def test_zero_grad_sets_to_none(self):
        for info, optim_input in self.each():
            model, loss_fn = model_and_loss()
            optimizer = info.optim_cls(model.parameters(), **optim_input.kwargs)
            loss_fn().backward()
            optimizer.zero_grad()
            self.assertTrue(all(p.grad is None for p in model.parameters()))

    def test_step_hooks_run_in_order(self):
        for info, optim_input in self.each():
            model, loss_fn = model_and_loss()
            optimizer = info.optim_cls(model.parameters(), **optim_input.kwargs)
            calls = []
            optimizer.register_step_pre_hook(lambda opt, args, kwargs: calls.append("pre"))
            handle = optimizer.register_step_post_hook(lambda opt, args, kwargs: calls.append("post"))
            run(optimizer, loss_fn, 2)
            handle.remove()
            run(optimizer, loss_fn, 1)
            self.assertEqual(calls, ["pre", "post", "pre", "post", "pre"])

    def test_deepcopy_steps_alike(self):
        for info, optim_input in self.each():
            model, loss_fn = model_and_loss()
            optimizer = info.optim_cls(model.parameters(), **optim_input.kwargs)
            run(optimizer, loss_fn, 3)
            twin_model = copy.deepcopy(model)
            twin = info.optim_cls(twin_model.parameters(), **optim_input.kwargs)
            twin.load_state_dict(copy.deepcopy(optimizer.state_dict()))
            def loss_of(net):
                return lambda: torch.nn.functional.mse_loss(net(torch.ones(4, 6)), torch.zeros(4, 3))
            run(optimizer, loss_of(model), 3)
            run(twin, loss_of(twin_model), 3)
            self.assertTrue(all(torch.equal(a, b) for a, b in zip(model.parameters(), twin_model.parameters())))
            self.assertEqual(optimizer.index, twin.index)

    def test_state_dict_is_deterministic(self):
        for info, optim_input in self.each():
            model, loss_fn = model_and_loss()
            optimizer = info.optim_cls(model.parameters(), **optim_input.kwargs)
            run(optimizer, loss_fn, 2)
            first, second = optimizer.state_dict(), optimizer.state_dict()
            self.assertEqual(first["param_groups"], second["param_groups"])
            for key, state in first["state"].items():
                for name, value in state.items():
                    self.assertTrue(torch.equal(value, second["state"][key][name]), name)

    def test_under_every_scheduler_input(self):
        for info, optim_input in self.each():
            for make_scheduler in info.scheduler_inputs[0]:
                model, loss_fn = model_and_loss()
                optimizer = info.optim_cls(model.parameters(), **optim_input.kwargs)
                scheduler = make_scheduler(optimizer)
                for _ in range(4):
                    optimizer.zero_grad()
                    loss = loss_fn()
                    loss.backward()
                    optimizer.step()
                    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                        scheduler.step(loss.item())
                    else:
                        scheduler.step()
                self.assertTrue(all(torch.isfinite(p).all() for p in model.parameters()))

    def test_error_inputs(self):
        for info in OPTIMIZERS:
            if info.optim_error_inputs_func is None:
                continue
            for error_input in info.optim_error_inputs_func("cpu"):
                with self.subTest(optimizer=info.optim_cls.__name__, kwargs=error_input.optimizer_error_input.kwargs):
                    model, _ = model_and_loss()
                    with self.assertRaisesRegex(error_input.error_type, error_input.error_regex):
                        info.optim_cls(model.parameters(), **error_input.optimizer_error_input.kwargs)


if __name__ == "__main__":
    unittest.main(verbosity=1)
