"""A first-morning notebook cell: test_images.py runs it through the notebook image's kernel."""

import os

import datascience
import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scipy.stats
from sklearn.linear_model import LinearRegression

x = np.arange(20.0)
y = 3 * x + 1
model = LinearRegression().fit(x.reshape(-1, 1), y)
assert abs(model.coef_[0] - 3) < 1e-9, model.coef_
frame = pd.DataFrame({"x": x, "y": y})
assert frame["y"].sum() == y.sum()
table = datascience.Table().with_columns("x", x, "y", y)
assert table.num_rows == 20
assert scipy.stats.pearsonr(x, y)[0] > 0.999
ipywidgets.IntSlider(value=3)
figure, axes = plt.subplots()
axes.plot(x, y)
figure.savefig(os.path.expanduser("~/plot.png"))
print("stack ok")
