// Shows the greeting hello-api answers, through this app's server (/api/greeting).
const line = document.getElementById('greeting');

fetch('api/greeting')
  .then((response) => response.json())
  .then((body) => {
    if (body.greeting) {
      line.textContent = body.greeting;
      line.classList.remove('muted');
    } else {
      line.textContent = body.error;
    }
  })
  .catch((error) => {
    line.textContent = `No greeting: ${error}`;
  });
