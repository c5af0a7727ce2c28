"""qres.optim never trusts what reaches its C++ step: every state of another shape, dtype, device or
layout than its parameter, state tensors that share memory, quantizer indices outside their range,
wrong option types, meta and complex parameters end in a Python exception that names the parameter,
the option or the state entry, before anything is written; never a signal or a wrong step. The fuzz
case feeds random states; CI also runs this file under AddressSanitizer (asan_safety_test)."""
import copy
import os
import random
import unittest

import torch

import qres

FUZZ_CASES = int(os.environ.get("QRES_FUZZ_CASES", "400"))


def model(seed=0):
    generator = torch.Generator().manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.5)
    return net


def set_grads(params, seed):
    generator = torch.Generator().manual_seed(seed)
    for p in params:
        p.grad = torch.randn(p.shape, generator=generator)


def stepped(make, steps=2):
    net = model()
    optimizer = make(net.parameters())
    for step in range(steps):
        set_grads(list(net.parameters()), step)
        optimizer.step()
    return net, optimizer


MAKERS = {
    "QtAdamW": lambda ps: qres.optim.QtAdamW(ps, lr=1e-2),
    "QtAdam": lambda ps: qres.optim.QtAdam(ps, lr=1e-2, scope="per_tensor"),
    "QSGD": lambda ps: qres.optim.QSGD(ps, lr=1e-2, momentum=0.9),
    "AdamW": lambda ps: qres.optim.AdamW(ps, lr=1e-2),
    "SGD": lambda ps: qres.optim.SGD(ps, lr=1e-2, momentum=0.9),
    "StdSGD": lambda ps: qres.optim.StdSGD(ps, lr=1e-2),
}


def first_buffer(optimizer):
    return "exp_avg" if isinstance(optimizer, (qres.optim.QtAdamW, qres.optim.QtAdam, qres.optim.AdamW)) \
        else "momentum_buffer"


class StateChecks(unittest.TestCase):
    """Each kind of bad state, as a user makes it: loaded for other parameters, a parameter resized
    under its buffer, an edited buffer, aliases. A ValueError names the parameter and the entry."""

    def assert_refused(self, optimizer, message, params):
        before = [p.detach().clone() for p in params]
        state = {param: {name: value.clone() for name, value in entries.items()}
                 for param, entries in optimizer.state.items()}
        with self.assertRaises(ValueError) as raised:
            optimizer.step()
        self.assertRegex(str(raised.exception), message)
        self.assertEqual(len(str(raised.exception).splitlines()), 1)
        for a, b in zip(before, params):  # nothing written
            self.assertTrue(torch.equal(a, b.detach()))
        for param, entries in state.items():
            for name, value in entries.items():
                if isinstance(value, torch.Tensor) and value.layout == torch.strided and \
                        value.shape == optimizer.state[param][name].shape:
                    self.assertTrue(torch.equal(value, optimizer.state[param][name]), name)

    def test_a_buffer_of_another_shape(self):
        for name, make in MAKERS.items():
            if name == "StdSGD":
                continue
            with self.subTest(optimizer=name):
                net, optimizer = stepped(make)
                params = list(net.parameters())
                buffer = first_buffer(optimizer)
                optimizer.state[params[1]][buffer] = torch.zeros(3)  # the parameter has 4: the old [7] under [10]
                set_grads(params, 9)
                self.assert_refused(optimizer, rf"parameter 1: state '{buffer}' is Float \[3\] on cpu; the parameter "
                                               r"is Float \[4\]", params)

    def test_a_parameter_resized_under_its_buffer(self):
        for name in ("QSGD", "QtAdamW"):
            with self.subTest(optimizer=name):
                net, optimizer = stepped(MAKERS[name])
                params = list(net.parameters())
                params[0].data = torch.randn(10, 5)
                set_grads(params, 9)
                self.assert_refused(optimizer, r"parameter 0: state '\w+' is Float \[4, 5\]", params)

    def test_dtype_layout_and_contiguity(self):
        net, optimizer = stepped(MAKERS["QtAdamW"])
        params = list(net.parameters())
        set_grads(params, 9)
        cases = [
            (torch.zeros(4, 5, dtype=torch.float64), r"'exp_avg' is Double \[4, 5\]"),
            (torch.zeros(5, 4).t(), r"'exp_avg' is Float \[4, 5\] on cpu \(not contiguous\)"),
            (torch.zeros(4, 5).to_sparse(), r"'exp_avg'"),
        ]
        for bad, message in cases:
            with self.subTest(message=message):
                good = optimizer.state[params[0]]["exp_avg"]
                optimizer.state[params[0]]["exp_avg"] = bad
                self.assert_refused(optimizer, "parameter 0: state " + message, params)
                optimizer.state[params[0]]["exp_avg"] = good

    def test_state_tensors_that_share_memory(self):
        net, optimizer = stepped(MAKERS["QtAdamW"])
        params = list(net.parameters())
        set_grads(params, 9)
        state = optimizer.state
        cases = [
            (params[1], "exp_avg_sq", lambda: state[params[1]]["exp_avg"],
             r"parameter 1: state '\w+' shares memory with state '\w+'"),
            (params[1], "exp_avg", lambda: params[1].detach(), r"parameter 1: state 'exp_avg' shares memory with the "
                                                               r"parameter"),
            (params[3], "exp_avg", lambda: state[params[1]]["exp_avg"][:2],
             r"parameter \d: state '\w+' shares memory with parameter \d's state"),
            (params[0], "exp_avg", lambda: params[0].grad, r"parameter 0: state 'exp_avg' shares memory with the "
                                                           r"gradient"),
        ]
        for param, entry, alias, message in cases:
            with self.subTest(message=message):
                good = state[param][entry]
                state[param][entry] = alias()
                self.assert_refused(optimizer, message, params)
                state[param][entry] = good

    def test_quantizer_state_out_of_range(self):
        for entry, value, message in [(1, 10 ** 12, r"\[1\] \(the index\) is 1000000000000, outside the schedule's "
                                                    r"range \[-64, 33\]"),
                                      (1, -65, r"\[1\] \(the index\) is -65"),
                                      (2, -1, r"\[2\] \(the quantized steps\) is -1"),
                                      (0, 7, r"\[0\] \(set\) is 7"),
                                      (4, 40, r"\[4\] \(parameter 1's index\) is 40")]:
            with self.subTest(entry=entry, value=value):
                net, optimizer = stepped(MAKERS["QtAdam"])
                params = list(net.parameters())
                optimizer.state[params[0]]["qres_quantizer"][entry] = value
                set_grads(params, 9)
                self.assert_refused(optimizer, r"QtAdam: state 'qres_quantizer'" + message, params)

    def test_a_step_count_that_is_not_a_count(self):
        net, optimizer = stepped(MAKERS["QtAdamW"])
        params = list(net.parameters())
        set_grads(params, 9)
        optimizer.state[params[2]]["step"] = torch.tensor(-3)
        self.assert_refused(optimizer, r"parameter 2: state 'step' is -3", params)
        optimizer.state[params[2]]["step"] = torch.tensor(2.0)
        self.assert_refused(optimizer, r"parameter 2: state 'step' must be a CPU int64 scalar tensor, not Float", params)

    def test_named_parameters_name_the_parameter(self):
        net = model()
        optimizer = qres.optim.QtAdamW(net.named_parameters(), lr=1e-2)
        params = list(net.parameters())
        set_grads(params, 0)
        optimizer.step()
        optimizer.state[params[3]]["exp_avg_sq"] = torch.zeros(7)
        self.assert_refused(optimizer, r"parameter 3 \('2.bias'\): state 'exp_avg_sq' is Float \[7\]", params)

    def test_load_state_dict_checks_and_keeps_what_it_had_on_error(self):
        _, source = stepped(MAKERS["QtAdamW"])
        saved = source.state_dict()
        other = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 3))  # 3 outputs
        optimizer = qres.optim.QtAdamW(other.parameters(), lr=1e-2)
        set_grads(list(other.parameters()), 0)
        optimizer.step()
        kept = copy.deepcopy(optimizer.state_dict())
        with self.assertRaisesRegex(ValueError, r"parameter 2: state 'exp_avg' is Float \[2, 4\] on cpu; the "
                                                r"parameter is Float \[3, 4\]"):
            optimizer.load_state_dict(saved)
        after = optimizer.state_dict()
        self.assertEqual(kept["param_groups"], after["param_groups"])
        for key, entries in kept["state"].items():
            for name, value in entries.items():
                self.assertTrue(torch.equal(value, after["state"][key][name]), name)
        optimizer.step()  # and it steps on

    def test_load_state_dict_names_a_missing_entry(self):
        _, optimizer = stepped(MAKERS["QtAdamW"])
        saved = copy.deepcopy(optimizer.state_dict())
        del saved["state"][1]["exp_avg_sq"]
        with self.assertRaisesRegex(ValueError, r"QtAdamW: the loaded state of parameter 1 has no 'exp_avg_sq'"):
            optimizer.load_state_dict(saved)

    def test_meta_and_complex_parameters_are_refused(self):
        cpu = torch.zeros(3, requires_grad=True)
        meta = torch.zeros(3, device="meta", requires_grad=True)
        cpu.grad, meta.grad = torch.ones(3), torch.ones(3, device="meta")
        with self.assertRaisesRegex(ValueError, "parameter 1 is on the meta device"):
            qres.optim.QtAdamW([cpu, meta]).step()
        self.assertTrue(torch.equal(cpu, torch.zeros(3)))
        complex_param = torch.zeros(3, dtype=torch.complex64, requires_grad=True)
        complex_param.grad = torch.ones(3, dtype=torch.complex64)
        for make in MAKERS.values():
            with self.assertRaisesRegex(ValueError, r"parameter 0 is complex \(ComplexFloat\).*view_as_real"):
                make([complex_param]).step()

    def test_a_gradient_unlike_its_parameter(self):
        """torch refuses p.grad of another shape or dtype, but not p.data replaced under p.grad."""
        param = torch.zeros(4, requires_grad=True)
        optimizer = qres.optim.QSGD([param], lr=0.1)
        param.grad = torch.ones(4)
        for data, message in [(torch.zeros(2, 2), r"gradient is Float \[4\] on cpu, the parameter Float \[2, 2\]"),
                              (torch.zeros(4, dtype=torch.float64), r"gradient is Float \[4\] on cpu, the parameter "
                                                                     r"Double \[4\]")]:
            param.data = data
            with self.assertRaisesRegex(ValueError, "parameter 0: its " + message):
                optimizer.step()


class OptionTypes(unittest.TestCase):
    def test_each_option_takes_its_type(self):
        params = [torch.zeros(2, requires_grad=True)]
        cases = [
            ({"qp": 2.7}, TypeError, "qp=2.7 must be an int"),
            ({"qp": True}, TypeError, "qp=True must be an int"),
            ({"seed": "7"}, TypeError, "seed='7' must be an int"),
            ({"weight_decay": "0.01,form=torch"}, TypeError, "weight_decay='0.01,form=torch' must be a real number"),
            ({"lr": "1e-3"}, TypeError, "lr='1e-3' must be a real number or a one-element tensor"),
            ({"betas": (0.9,)}, TypeError, r"betas=\(0.9,\) must be a pair"),
            ({"form": "torch,eps=1"}, ValueError, "form='torch,eps=1' must be one of reference, torch"),
            ({"rounding": 1}, TypeError, "rounding=1 must be one of"),
            ({"offset": 1}, TypeError, "offset=1 must be True or False"),
            ({"schedule": "bump", "kappa": 3.0}, ValueError, "kappa is an option of schedule=log"),
            ({"index_limit": 65}, ValueError, r"index_limit=65 is out of range \[0, 64\]"),
            ({"eps": float("nan")}, ValueError, "eps=nan must be a finite number > 0"),
        ]
        for options, error, message in cases:
            with self.subTest(options=options):
                with self.assertRaisesRegex(error, message):
                    qres.optim.QtAdamW(params, **options)

    def test_implementation_switches_are_refused_and_none_is_fine(self):
        params = [torch.zeros(2, requires_grad=True)]
        for flag in ("foreach", "fused", "capturable", "differentiable"):
            with self.subTest(flag=flag):
                with self.assertRaisesRegex(TypeError, f"QtAdamW: {flag}=True is not supported: "):
                    qres.optim.QtAdamW(params, **{flag: True})
                qres.optim.QtAdamW(params, **{flag: None if flag in ("foreach", "fused") else False})
                optimizer = qres.optim.SGD(params)
                with self.assertRaisesRegex(TypeError, f"a param group's {flag}=True is not supported"):
                    optimizer.add_param_group({"params": [torch.zeros(1, requires_grad=True)], flag: True})
        with self.assertRaisesRegex(TypeError, "amsgrad=True is not supported: qres has no AMSGrad"):
            qres.optim.QtAdamW([{"params": params, "amsgrad": True}])

    def test_quantizer_options_are_one_per_optimizer(self):
        a, b = torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)
        with self.assertRaisesRegex(ValueError, r"a param group's qp=3: the quantizer's options are one for the "
                                                r"optimizer \(qp=0\)"):
            qres.optim.QtAdamW([{"params": [a]}, {"params": [b], "qp": 3}])
        with self.assertRaisesRegex(TypeError, "a param group's qp: SGD does not quantize"):
            qres.optim.SGD([{"params": [a], "qp": 3}])
        optimizer = qres.optim.QtAdamW([a, b])
        optimizer.param_groups[0]["rounding"] = "floor"
        a.grad, b.grad = torch.ones(2), torch.ones(3)
        with self.assertRaisesRegex(ValueError, r"QtAdamW: param_groups\[0\]'s rounding='floor': the quantizer's "
                                                r"options are one for the optimizer \(rounding='half_up'\)"):
            optimizer.step()


class NonFiniteElements(unittest.TestCase):
    def test_one_nan_gradient_element_leaves_the_rest_training(self):
        """algorithm.md Q3: a NaN (or infinite) gradient element stays non-finite, as in torch.optim,
        and takes no part in the bump test or the log norm, so the other 999 elements step exactly as
        beside an element whose update is always 0 (the reference would freeze them for good)."""
        makers = [lambda ps: qres.optim.QtAdamW(ps, lr=1e-3), lambda ps: qres.optim.QSGD(ps, lr=1e-2),
                  lambda ps: qres.optim.QtAdam(ps, lr=1e-3, schedule="log", epochs=1, batches_per_epoch=10),
                  lambda ps: qres.optim.QtAdamW(ps, lr=1e-3, zero_test="all_zero", scope="per_tensor")]
        for number, make in enumerate(makers):
            for bad in (float("nan"), float("inf")):
                with self.subTest(optimizer=number, bad=bad):
                    runs = []
                    for element_grad in (bad, 0.0):
                        param = torch.linspace(-1, 1, 1000).requires_grad_()
                        optimizer = make([param])
                        indices = []
                        for _ in range(6):
                            param.grad = param.detach() * 3 + 0.01
                            param.grad[17] = element_grad
                            optimizer.step()
                            indices.append(optimizer.index)
                        runs.append((param.detach().clone(), indices))
                    (broken, broken_indices), (clean, clean_indices) = runs
                    self.assertFalse(torch.isfinite(broken[17]))
                    others = torch.ones(1000, dtype=torch.bool)
                    others[17] = False
                    self.assertTrue(torch.equal(broken[others], clean[others]))
                    self.assertEqual(broken_indices, clean_indices)
                    self.assertGreater(clean_indices[-1], 0)


def mutate(rng, state_dict, params):
    """One random change to a state_dict or the parameters; returns what it did."""
    state = state_dict["state"]
    keys = sorted(state, key=str)
    key = rng.choice(keys) if keys else 0
    entries = state.setdefault(key, {})
    names = sorted(entries) or ["step"]
    name = rng.choice(names)
    kind = rng.randrange(13)
    shape = [rng.randrange(0, 6) for _ in range(rng.randrange(0, 3))]
    if kind == 0:
        entries[name] = torch.randn(shape) if shape else torch.randn(())
    elif kind == 1:
        value = entries.get(name, torch.zeros(2))
        value = value if isinstance(value, torch.Tensor) else torch.zeros(2)
        entries[name] = value.to(rng.choice([torch.float64, torch.float16, torch.int64, torch.bool, torch.int32]))
    elif kind == 2:
        value = entries.get(name, torch.zeros(2))
        value = value if isinstance(value, torch.Tensor) else torch.zeros(2)
        entries[name] = torch.zeros([2 * max(value.numel(), 1)])[::2] if value.dim() <= 1 else value.t()
    elif kind == 3:
        entries.pop(name, None)
    elif kind == 4:
        entries[rng.choice(["junk", "max_exp_avg_sq", "momentum_buffer", "exp_avg"])] = torch.randn(shape or [1])
    elif kind == 5 and "qres_quantizer" in entries:
        entries["qres_quantizer"][rng.randrange(len(entries["qres_quantizer"]))] = rng.choice(
            [10 ** 12, -10 ** 12, 65, -65, 2 ** 62, -1, 33])
    elif kind == 6:
        entries["step"] = rng.choice([torch.tensor(-5), torch.tensor(float("nan")), torch.tensor(2 ** 62),
                                      torch.tensor([1, 2]), 3.5, "x", torch.tensor(1.0)])
    elif kind == 7 and len(names) >= 2:
        entries[names[0]] = entries[names[1]]  # two entries, one tensor
    elif kind == 8 and keys:
        other = state[rng.choice(keys)]
        if other:
            entries[name] = next(iter(other.values()))  # another parameter's tensor
    elif kind == 9 and "qres_quantizer" in entries:
        entries["qres_quantizer"] = rng.choice([torch.zeros(2, dtype=torch.int64), torch.zeros(9),
                                                torch.zeros(50, dtype=torch.int64)])
    elif kind == 10:
        state[rng.choice([99, -1, "x"])] = {"step": torch.tensor(1)}
    elif kind == 11:
        group = state_dict["param_groups"][0]
        option = rng.choice(sorted(k for k in group if k != "params"))
        group[option] = rng.choice([None, "x", -1.0, 10 ** 30, (0.1, 0.2, 0.3), float("inf")])
    else:
        param = rng.choice(params)
        param.data = torch.randn(shape or [3])
    return kind


class Fuzz(unittest.TestCase):
    def test_random_states_end_in_an_exception_or_a_correct_step(self):
        """Each case: an optimizer stepped twice, its state_dict changed at random (shapes, dtypes,
        layouts, missing and extra entries, aliases, huge indices, parameters resized), loaded and
        stepped. It raises ValueError or TypeError, or steps as a twin given the same state does."""
        rng = random.Random(2026)
        outcomes = {"refused": 0, "stepped": 0}
        for case in range(FUZZ_CASES):
            name = rng.choice(sorted(MAKERS))
            net, optimizer = stepped(MAKERS[name])
            saved = copy.deepcopy(optimizer.state_dict())
            params = list(net.parameters())
            kinds = [mutate(rng, saved, params) for _ in range(rng.randrange(1, 3))]
            with self.subTest(case=case, optimizer=name, kinds=kinds):
                twin_net = copy.deepcopy(net)
                twin = MAKERS[name](twin_net.parameters())
                try:
                    fresh = MAKERS[name](net.parameters())
                    fresh.load_state_dict(copy.deepcopy(saved))
                    set_grads(params, case)
                    fresh.step()
                except (ValueError, TypeError) as error:
                    self.assertEqual(len(str(error).strip().splitlines()), 1, str(error))
                    outcomes["refused"] += 1
                    continue
                twin.load_state_dict(copy.deepcopy(saved))
                set_grads(list(twin_net.parameters()), case)
                twin.step()
                for a, b in zip(params, twin_net.parameters()):
                    self.assertTrue(torch.allclose(a, b, rtol=0, atol=0, equal_nan=True))
                buffers = ("exp_avg", "exp_avg_sq") if first_buffer(fresh) == "exp_avg" else ("momentum_buffer",)
                for param in params:  # the buffers the step used are its parameter's
                    for buffer in buffers:
                        value = fresh.state.get(param, {}).get(buffer)
                        if isinstance(value, torch.Tensor) and value.numel() > 0:
                            self.assertEqual(value.shape, param.shape)
                outcomes["stepped"] += 1
        # Both outcomes occur: the fuzz reaches the step, and it reaches the checks.
        self.assertGreater(outcomes["refused"], FUZZ_CASES // 4, outcomes)
        self.assertGreater(outcomes["stepped"], FUZZ_CASES // 20, outcomes)


if __name__ == "__main__":
    unittest.main(verbosity=1)
