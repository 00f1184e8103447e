# The quick-start app: import numpy and scipy, take the SVD of a random 100x100 matrix.
import numpy as np
import scipy.linalg

matrix = np.random.default_rng().random((100, 100))
u, s, vh = scipy.linalg.svd(matrix)
print(f"svd: u={u.shape}, s={s.shape}")
