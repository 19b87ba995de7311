"""Latent map: where every test image's posterior mean lands, and the decoded manifold over the plane."""
import streamlit as st

from ui import charts, images, links, navigation, resources, sidebar, state
from ui.decoder import decoded_grid
from vae_core.evaluation import as_images, dimensions_by_kl, manifold_latents, posterior_on_plane, reconstruct

PROJECTIONS = ("pca", "tsne")  # a wider model's map
GRID = (5, 25, 15)  # the decoded manifold's cells a side: fewest, most, to begin with

checkpoint = sidebar.current()
model, config, path = checkpoint.model, checkpoint.config, st.session_state[state.MODEL]

st.title("Latent map")
st.caption("Each point is one test image's posterior mean, coloured by its label. Click a point to see the image, "
           "its reconstruction and its posterior.")
map_col, grid_col = st.columns([3, 2])
with map_col:
    data = resources.dataset_or_explain(config.dataset, "The map of posterior means")
    if config.latent_dim <= 2 or data is None:  # (a link's projection= a 2-D map has none of)
        method = "means"
        links.take("projection")
        links.drop("projection")
    else:
        if (linked := links.take_choice("projection", PROJECTIONS)) is not None:
            st.session_state["map_projection"] = linked
        method = st.radio("Projection of the wider latent", PROJECTIONS, horizontal=True, key="map_projection",
                          format_func={"pca": "PCA", "tsne": f"t-SNE ({resources.TSNE_POINTS} points)"}.get)
        links.write("projection", method)

with grid_col:
    st.subheader("Decoded manifold")
    if (linked := links.take_number("grid", low=GRID[0], high=GRID[1], whole=True)) is not None:
        st.session_state["map_grid_size"] = linked
    st.session_state.setdefault("map_grid_size", GRID[2])  # (its value from the state: a link's sets it there)
    n = st.slider("Grid size", GRID[0], GRID[1], key="map_grid_size")
    links.write("grid", n)
    if method == "pca":
        st.caption("Decodes over the map's own PCA plane (the mean of the posterior means plus the two principal "
                   "directions), spanning the range of its points: each cell sits where the map shows it.")
        decoded_grid(model, resources.pca_manifold(path, n), key="map_manifold", nrow=n, download="manifold.png")
    else:
        # On a map of the means themselves the grid's axes are the map's: z0 across, z1 up.
        dims = (0, 1) if method == "means" else tuple(dimensions_by_kl(checkpoint.metrics, config.latent_dim)[:2])
        st.caption(f"Decodes of a grid over z{dims[0]} (right) and z{dims[-1]} (up), spaced by the Gaussian "
                   "inverse CDF so that each cell holds equal prior mass, over the central 90% of N(0, 1) on each "
                   "axis (±1.64; the map beside it is scaled to its points, so their squares differ)" +
                   ("; the other dimensions are held at zero." if config.latent_dim > 2 else ".") +
                   (" (A t-SNE map has no inverse to decode.)" if method == "tsne" else ""))
        decoded_grid(model, manifold_latents(config.latent_dim, n, dims=(dims[0], dims[-1])), key="map_manifold",
                     nrow=n, download="manifold.png")

if data is None:
    st.stop()
with map_col:
    index, xy = resources.projection(path, "pca" if method == "means" else method)
    mu, std = resources.encodings(path)
    from_link = links.take_number("image", low=0, high=len(data.test_x) - 1, whole=True)
    if from_link is not None:
        st.session_state[state.MAP_CHOSEN] = (path, from_link)
    chosen_path, chosen = st.session_state.get(state.MAP_CHOSEN, (None, None))
    chosen = chosen if chosen_path == path else None  # a choice belongs to the model it was made on
    if chosen is not None:
        links.write("image", chosen)  # a reload or a copied link shows the same image
    else:
        links.drop("image")  # (a choice on another model: a reload chose it on this one)
    posterior = None
    if links.take_number("ellipses", allowed=(0, 1)):
        st.session_state["map_ellipse"] = True
    ellipses = config.latent_dim == 2 and st.toggle("Posterior ellipses (1 and 2 σ)", key="map_ellipse",
                                                    disabled=chosen not in index, help="Click a point first")
    if ellipses and chosen in index:
        links.write("ellipses", 1)
    else:
        links.drop("ellipses")
    if config.latent_dim != 2:  # (the toggle vanished without a word when a wider model was chosen)
        st.caption(f"Posterior ellipses are drawn for 2-D models, on their own axes; this map is a projection of "
                   f"{config.latent_dim} dimensions. The table below a clicked point gives its σ in each of them.")
    if ellipses and chosen in index:
        posterior = posterior_on_plane(mu[chosen], std[chosen])
        widest, spread = float(std[chosen].max()), float(mu.std(0).mean())
        st.caption(f"Drawn to scale: this image's posterior has σ = ({std[chosen][0]:.3f}, {std[chosen][1]:.3f}), "
                   f"while the test set's posterior means have a standard deviation of about {spread:.2f}: the "
                   f"cloud's spread is {spread / widest:.0f} times the encoder's uncertainty about this image. Zoom "
                   "in with the chart's toolbar to see the ellipses.")
    cloud, sigma = float(xy.std(0).max()), float(std.mean())
    if method != "tsne" and cloud < 0.1 * sigma:  # (digits-8d-mean-recon's cloud of ±0.01, drawn to fill the map,
        metrics = resources.test_metrics(path)    # looked like a latent space that sorts the digits)
        st.warning(f"Mind the axes: the posterior means have a standard deviation of only {cloud:.2g} on this map, "
                   f"while each posterior's σ is about {sigma:.2f}"
                   + (f", {sigma / cloud:.0f} times more" if cloud > 0 else "") + ". Every image gets "
                   f"nearly the same q(z|x), so the codes carry almost nothing about their images "
                   f"({metrics['active_units']} of {config.latent_dim} units active): drawn at the scale of one σ, "
                   "this cloud would be a dot.")
    titles = ("z0", "z1") if method == "means" else (f"{method.upper()} 1", f"{method.upper()} 2")
    fig = charts.latent_map(xy, data.test_y.numpy()[index], index, data.classes, titles, chosen, posterior)
    picked = charts.clicked(st.plotly_chart(fig, on_select="rerun", selection_mode="points", key="map_chart",
                                            width="stretch"), index, "latent map")
    if picked is not None and picked != chosen:
        st.session_state[state.MAP_CHOSEN] = (path, picked)
        st.rerun()

if chosen is not None:
    st.subheader(f"Test image {chosen} · label {data.classes[int(data.test_y[chosen])]}")
    x = data.test_x[chosen:chosen + 1]
    original, recon, numbers = st.columns([1, 1, 2])
    with original:
        images.show_image(as_images(x, config.image_shape)[0], 200, "original")
    with recon:
        # (a caption wider than the image stretched it: 214 px beside the original's 200)
        images.show_image(reconstruct(model, x)[0], 200, "reconstruction")
    with numbers:
        # short headers: at 1024 px "posterior std σ", the number lesson step 4 asks about, was cut off
        st.dataframe({"dimension": [f"z{i}" for i in range(config.latent_dim)], "mean μ": mu[chosen],
                      "std σ": std[chosen]}, hide_index=True,  # (three decimals in every row, as the caption's σ)
                     column_config={name: st.column_config.NumberColumn(format="%.3f") for name in ("mean μ", "std σ")})
        st.caption("the posterior q(z|x) of this image: its mean and standard deviation on each dimension (the "
                   "reconstruction decodes the mean)")
        if st.button("Open in the latent sliders", key="map_to_sliders"):
            state.set_latent_point(mu[chosen])
            st.session_state[state.SLIDERS_IMAGE] = chosen  # the sliders page's test image is this one too
            st.switch_page(navigation.SLIDERS.script)
