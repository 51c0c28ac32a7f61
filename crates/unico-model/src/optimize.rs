//! Maximum likelihood: minimises a negative mean log-likelihood over log-parameters.
//!
//! The models' parameters are all positive, so the search runs on their logarithms
//! (unconstrained) with argmin's L-BFGS and a More-Thuente line search. Gradients are
//! analytic where the model provides them (BG/NBD and Gamma-Gamma compute the cost and the
//! gradient in one pass, cached for the line search's two requests at a point) and central
//! differences otherwise (Pareto/NBD).

use crate::error::{Error, ErrorKind};
use argmin::core::{CostFunction, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;

/// The optimum found.
#[derive(Debug, Clone)]
pub struct Optimum {
    /// The parameters (not their logarithms).
    pub params: Vec<f64>,
    /// The minimised cost (negative mean log-likelihood).
    pub cost: f64,
    /// L-BFGS iterations used.
    pub iterations: u64,
}

/// An analytic gradient of the cost with respect to the (positive) parameters.
pub type GradientFn<'a> = &'a dyn Fn(&[f64]) -> Vec<f64>;

/// The cost and its analytic gradient computed in one pass over the data (they share most
/// of their terms).
pub type JointFn<'a> = &'a dyn Fn(&[f64]) -> (f64, Vec<f64>);

/// Log-parameters, cost, gradient.
type Evaluation = (Vec<f64>, f64, Vec<f64>);

struct Problem<'a, F: Fn(&[f64]) -> f64> {
    f: &'a F,
    grad: Option<GradientFn<'a>>,
    joint: Option<JointFn<'a>>,
    /// The last joint evaluation: (log-parameters, cost, gradient in the parameters). The
    /// line search asks for the cost and then the gradient at the same point.
    last: std::cell::RefCell<Option<Evaluation>>,
}

impl<F: Fn(&[f64]) -> f64> Problem<'_, F> {
    fn eval(&self, log_params: &[f64]) -> f64 {
        let params: Vec<f64> = log_params.iter().map(|v| v.exp()).collect();
        let c = match self.joint {
            Some(joint) => self.joint_at(log_params, joint).0,
            None => (self.f)(&params),
        };
        // Non-finite likelihoods (parameters out of range) repel the line search.
        if c.is_finite() { c } else { f64::MAX / 4.0 }
    }

    fn joint_at(&self, log_params: &[f64], joint: JointFn<'_>) -> (f64, Vec<f64>) {
        if let Some((at, c, g)) = self.last.borrow().as_ref()
            && at.as_slice() == log_params
        {
            return (*c, g.clone());
        }
        let params: Vec<f64> = log_params.iter().map(|v| v.exp()).collect();
        let (c, g) = joint(&params);
        *self.last.borrow_mut() = Some((log_params.to_vec(), c, g.clone()));
        (c, g)
    }
}

impl<F: Fn(&[f64]) -> f64> CostFunction for Problem<'_, F> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, p: &Vec<f64>) -> Result<f64, argmin::core::Error> {
        Ok(self.eval(p))
    }
}

impl<F: Fn(&[f64]) -> f64> Gradient for Problem<'_, F> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, p: &Vec<f64>) -> Result<Vec<f64>, argmin::core::Error> {
        let analytic = match (self.joint, self.grad) {
            (Some(joint), _) => Some(self.joint_at(p, joint).1),
            (None, Some(grad)) => Some(grad(&p.iter().map(|v| v.exp()).collect::<Vec<_>>())),
            (None, None) => None,
        };
        if let Some(g) = analytic {
            // Chain rule: d cost / d ln θ = θ · d cost / d θ.
            let params: Vec<f64> = p.iter().map(|v| v.exp()).collect();
            return Ok(g.iter().zip(&params).map(|(g, t)| if (g * t).is_finite() { g * t } else { 0.0 }).collect());
        }
        const H: f64 = 1e-6;
        let mut g = vec![0.0; p.len()];
        let mut q = p.clone();
        for i in 0..p.len() {
            q[i] = p[i] + H;
            let up = self.eval(&q);
            q[i] = p[i] - H;
            let down = self.eval(&q);
            q[i] = p[i];
            g[i] = (up - down) / (2.0 * H);
        }
        Ok(g)
    }
}

/// Minimises `f` (a function of positive parameters) from `start`, with central-difference
/// gradients.
pub fn minimize(f: &impl Fn(&[f64]) -> f64, start: &[f64], what: &str) -> Result<Optimum, Error> {
    minimize_with_gradient(f, None, start, what)
}

/// Minimises `f` from `start` using `grad`, the analytic gradient, when given.
pub fn minimize_with_gradient(
    f: &impl Fn(&[f64]) -> f64,
    grad: Option<GradientFn<'_>>,
    start: &[f64],
    what: &str,
) -> Result<Optimum, Error> {
    run(f, grad, None, start, what)
}

/// Minimises a cost whose value and analytic gradient come from one evaluation.
pub fn minimize_joint(joint: JointFn<'_>, start: &[f64], what: &str) -> Result<Optimum, Error> {
    run(&|p: &[f64]| joint(p).0, None, Some(joint), start, what)
}

fn run(
    f: &impl Fn(&[f64]) -> f64,
    grad: Option<GradientFn<'_>>,
    joint: Option<JointFn<'_>>,
    start: &[f64],
    what: &str,
) -> Result<Optimum, Error> {
    let fail = |e: argmin::core::Error| Error::new(ErrorKind::Fit, format!("fitting {what}: {e}"));
    let mut at: Vec<f64> = start.iter().map(|v| v.ln()).collect();
    let mut iterations = 0;
    // A restart from the first result polishes a run the line search cut short.
    for _ in 0..2 {
        let line = MoreThuenteLineSearch::new();
        let solver =
            LBFGS::new(line, 10).with_tolerance_grad(1e-9).map_err(fail)?.with_tolerance_cost(1e-15).map_err(fail)?;
        let problem = Problem { f, grad, joint, last: Default::default() };
        let res = Executor::new(problem, solver)
            .configure(|state| state.param(at.clone()).max_iters(500))
            .run()
            .map_err(fail)?;
        let state = res.state();
        iterations += state.get_iter();
        at = state
            .get_best_param()
            .cloned()
            .ok_or_else(|| Error::new(ErrorKind::Fit, format!("fitting {what}: no optimum")))?;
        if matches!(state.get_termination_reason(), Some(argmin::core::TerminationReason::SolverConverged)) {
            break;
        }
    }
    let params: Vec<f64> = at.iter().map(|v| v.exp()).collect();
    let cost = f(&params);
    if !cost.is_finite() || params.iter().any(|p| !p.is_finite()) {
        return Err(Error::new(ErrorKind::Fit, format!("fitting {what}: the likelihood diverged")));
    }
    Ok(Optimum { params, cost, iterations })
}
