# ---- batched evaluations (_batch_template_src.py): the cycle collocation's hot path ----
# ruff: noqa
# (appended to the generated module after _template_src.py: rhs, jac, dfdp are its own)


@nb.njit(cache=True, error_model='numpy')
def rhs_batch(X, pv, edges, opt, out):
    """rhs at every row of X (K by nx) into out (K by nx)."""
    K1 = edges.shape[0]
    F = np.empty(K1)
    M1 = np.empty(K1)
    for k in range(X.shape[0]):
        rhs(X[k], pv, edges, opt, out[k], F, M1)


@nb.njit(cache=True)
def _jac_work(nx, K1):
    """Work arrays of ``jac`` for nx states and K1 bin edges: (J, gf, F, M1, dF, dM1)."""
    return (np.empty((nx, nx)), np.empty((2, nx)), np.empty(K1), np.empty(K1),
            np.empty((K1, 4)), np.empty((K1, 4)))


@nb.njit(cache=True)
def _values_into(J, rows, cols, out, k):
    """out[k, e] = J[rows[e], cols[e]] (the pattern's entries of one state's df/dx)."""
    for e in range(rows.shape[0]):
        out[k, e] = J[rows[e], cols[e]]


@nb.njit(cache=True)
def _pattern_into(J, pat):
    """pat |= (J != 0) (booleans, in place)."""
    nx = J.shape[0]
    for i in range(nx):
        for j in range(nx):
            if J[i, j] != 0.0:
                pat[i, j] = True


@nb.njit(cache=True, error_model='numpy', nogil=True)
def jac_values_batch(X, pv, edges, opt, rows, cols, out):
    """df/dx at every row of X on the pattern (rows, cols) into out (K by len(rows))."""
    J, gf, F, M1, dF, dM1 = _jac_work(X.shape[1], edges.shape[0])
    for k in range(X.shape[0]):
        jac(X[k], pv, edges, opt, J, gf, F, M1, dF, dM1)
        _values_into(J, rows, cols, out, k)


@nb.njit(cache=True, error_model='numpy')
def jac_pattern_batch(X, pv, edges, opt, pat):
    """pat |= (df/dx != 0) over every row of X (pat: nx by nx booleans, in place)."""
    J, gf, F, M1, dF, dM1 = _jac_work(X.shape[1], edges.shape[0])
    for k in range(X.shape[0]):
        jac(X[k], pv, edges, opt, J, gf, F, M1, dF, dM1)
        _pattern_into(J, pat)


@nb.njit(cache=True, error_model='numpy', nogil=True)
def jac_values_pattern_batch(X, pv, edges, opt, rows, cols, out, pat):
    """jac_values_batch and jac_pattern_batch from one df/dx per row of X: the values on
    the pattern (rows, cols) into out and pat |= (df/dx != 0)."""
    J, gf, F, M1, dF, dM1 = _jac_work(X.shape[1], edges.shape[0])
    for k in range(X.shape[0]):
        jac(X[k], pv, edges, opt, J, gf, F, M1, dF, dM1)
        _values_into(J, rows, cols, out, k)
        _pattern_into(J, pat)


@nb.njit(cache=True, error_model='numpy')
def dfdp_column_batch(X, pv, edges, opt, ipar, out):
    """Column ipar of df/dp at every row of X into out (K by nx).

    A connection probability p_k (_P_P + k) enters f only through the moment equations of
    pathway k (rows 4K + 2k, 4K + 2k + 1; the transport does not depend on it): that column
    is those two entries of ``dfdp`` (same expressions, same values) from one transport
    pass, without the other 18 columns.  Every other column (and the conditional closure's
    finite-difference dfdp) is taken from the full ``dfdp``."""
    K1 = edges.shape[0]
    K = K1 - 1
    nx = X.shape[1]
    D = np.empty((nx, _NPAR))
    T = np.empty(nx)
    F = np.empty(K1)
    M1 = np.empty(K1)
    dF = np.empty((K1, 4))
    dM1 = np.empty((K1, 4))
    kp = ipar - _P_P
    fast = opt[6] != 1.0 and 0 <= kp < 4
    for k in range(X.shape[0]):
        x = X[k]
        if fast:
            fired = transport(x, pv, edges, opt, T, F, M1)
            fr = fired / pv[_P_H]
            i = 4 * K + 2 * kp
            r = moment_rhs(x[i], x[i + 1], fr[kp % 2], pv[_P_P + kp], pv[_P_TAU + kp])
            for c in range(nx):
                out[k, c] = 0.0
            out[k, i] = r[5]
            out[k, i + 1] = r[10]
        else:
            dfdp(x, pv, edges, opt, D, F, M1, dF, dM1)
            for c in range(nx):
                out[k, c] = D[c, ipar]
